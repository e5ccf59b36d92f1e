"""A signal is a checkpoint, not a loss: SIGTERM, SIGUSR1 or SIGUSR2 stops a
run after the iteration it arrives in, with a mid-epoch checkpoint from
which ``--resume`` goes on exactly; a kill -9 loses at most the mid-epoch
interval; an interrupted evaluation runs again; a full disk stops the run
naming what it needs; dataloader workers, persistent or not, change nothing
(launchers: test_launchers.py).

Signals and kills come from ``kill_at.py``, at chosen iterations,
evaluation batches and saves of the run's own process.
"""
import json
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from senet_mmdet.engine import RESUMABLE_EXIT_CODE
from .test_reliability import KILL_AT
from .utils import (assert_bitwise_equal, metrics, mmdet_tool, python_tool,
                    run, tiny_config, tool_command)

pytestmark = pytest.mark.slow

# Two epochs of 4 iterations, evaluated and saved after each, one epoch
# checkpoint kept, and a mid-epoch checkpoint every 3 iterations.
INTERVAL = 3
RESUMABLE = f'''default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1, max_keep_ckpts=1,
                    mid_epoch_interval={INTERVAL}))
train_cfg = dict(max_epochs=2, val_interval=1)
'''


def interrupted(specs: List[str], command: list, cwd: Path,
                returncode: int = RESUMABLE_EXIT_CODE) -> str:
    result = run([sys.executable, str(KILL_AT), *specs, *command[1:]], cwd,
                 returncode=returncode)
    return result.stdout + result.stderr


def checkpoint_state(path: Path) -> dict:
    checkpoint = torch.load(path, weights_only=True)
    return dict(model=checkpoint['state_dict'],
                optimizer=checkpoint['optimizer'],
                param_schedulers=checkpoint['param_schedulers'])


def logged(work_dir: Path, key: str) -> Dict[int, float]:
    """``key`` by step from every run's scalars.json in ``work_dir``; a
    step logged twice (an iteration trained again after a kill -9) must
    have logged the same value."""
    values: Dict[int, float] = {}
    for scalars in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in scalars.read_text().splitlines():
            entry = json.loads(line)
            if key in entry:
                assert values.setdefault(entry['step'],
                                         entry[key]) == entry[key], (
                                             key, entry['step'])
    return values


@pytest.fixture(scope='module')
def uninterrupted(toy_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp('uninterrupted')
    config = tiny_config(folder, toy_root, epochs=2, extra=RESUMABLE)
    work = folder / 'work'
    run(python_tool('train.py', config, '--work-dir', work), folder)
    return config, work


def test_signals_lose_no_iteration_and_kill_9_less_than_the_interval(
        uninterrupted, tmp_path):
    config, reference = uninterrupted
    work = tmp_path / 'work'
    command = python_tool('train.py', config, '--work-dir', work)
    resume = [*command, '--resume']
    last = work / 'last_checkpoint'

    # SIGUSR1 before iteration 2: saved after it, mid-epoch.
    log = interrupted(['iteration:2:SIGUSR1'], command, tmp_path)
    assert ('SIGUSR1 received: training stopped after iteration 2 (epoch 1, '
            f'batch 2); {work}/epoch_1_iter_2.pth holds everything') in log
    assert last.read_text() == str(work / 'epoch_1_iter_2.pth')

    # SIGUSR2 during the first evaluation: the epoch's checkpoint exists,
    # the evaluation stops and is not recorded as done.
    log = interrupted(['evaluation:1:SIGUSR2'], resume, tmp_path)
    assert 'resuming epoch 1 after its batch 2 of 4' in log
    assert 'SIGUSR2 received: training stopped after evaluation batch 1 ' \
        'after epoch 1; the evaluation runs again on resume' in log
    assert last.read_text() == str(work / 'epoch_1.pth')
    assert not (work / 'evaluated_epochs.json').exists()

    # SIGTERM before the resumed run's second iteration (iteration 6), and
    # a second SIGTERM while that save is being written.
    log = interrupted(['iteration:2:SIGTERM', 'save:1:SIGTERM'], resume,
                      tmp_path)
    assert 'running it again' in log and 'coco/bbox_mAP' in log
    assert json.loads((work / 'evaluated_epochs.json').read_text()) == [1]
    assert 'SIGTERM received: training stopped after iteration 6 (epoch 2, ' \
        'batch 2)' in log
    assert last.read_text() == str(work / 'epoch_2_iter_6.pth')
    # Only the newest mid-epoch checkpoint is kept, and no fragment.
    assert sorted(p.name for p in work.glob('*.pth*')) == [
        'epoch_1.pth', 'epoch_2_iter_6.pth']

    # kill -9 before the resumed run's second iteration (iteration 8, 7
    # done): the newest checkpoint is the mid-epoch one of iteration 6, so
    # one iteration is lost (fewer than INTERVAL can be).
    interrupted(['iteration:2:SIGKILL'], resume, tmp_path, returncode=-9)
    assert last.read_text() == str(work / 'epoch_2_iter_6.pth')

    result = run(resume, tmp_path)
    log = result.stdout + result.stderr
    assert 'resumed epoch: 1, iter: 6' in log
    assert 'resuming epoch 2 after its batch 2 of 4' in log
    assert json.loads((work / 'evaluated_epochs.json').read_text()) == [1, 2]
    assert sorted(p.name for p in work.glob('*.pth*')) == ['epoch_2.pth']

    # Bitwise the uninterrupted run: weights, optimizer, schedulers, and
    # every logged loss and learning rate, each iteration logged once.
    assert_bitwise_equal(checkpoint_state(work / 'epoch_2.pth'),
                         checkpoint_state(reference / 'epoch_2.pth'))
    for key in ('loss', 'loss_cls', 'loss_rpn_bbox', 'lr'):
        assert logged(work, key) == logged(reference, key), key
    assert sorted(logged(work, 'loss')) == list(range(1, 9))
    assert logged(work, 'coco/bbox_mAP') == logged(reference,
                                                   'coco/bbox_mAP')


# (tool, whether the interrupted run's workers are persistent). MMDetection's
# own tools/train.py and test.py get everything from the configs'
# runner_type (configs/_base_/safe_runtime.py); CI trains with them in
# make test-launchers.
TOOLS = [
    pytest.param('ours', False, id='ours'),
    pytest.param('mmdet', True, id='mmdet', marks=pytest.mark.launchers),
]


@pytest.mark.parametrize('tool, persistent', TOOLS)
def test_workers_persistent_or_not_change_nothing_and_resume_exactly(
        uninterrupted, tmp_path, tool, persistent):
    config, reference = uninterrupted
    work = tmp_path / 'work'
    command = tool_command(tool, 'train.py', config, '--work-dir', work)
    workers = ['--cfg-options', 'train_dataloader.num_workers=2']
    # 2 workers (ours: started afresh with each epoch) until SIGTERM stops
    # the run with status 75 after iteration 2 (mid-epoch 1)...
    interrupted(['iteration:2:SIGTERM'], [
        *command, *workers,
        f'train_dataloader.persistent_workers={persistent}'
    ], tmp_path)
    assert (work / 'last_checkpoint').read_text() == str(
        work / 'epoch_1_iter_2.pth')
    # ...then 2 persistent workers from batch 3 across the epoch boundary.
    result = run([*command, '--resume', *workers,
                  'train_dataloader.persistent_workers=True'], tmp_path)
    assert 'resuming epoch 1 after its batch 2 of 4' in (result.stdout +
                                                         result.stderr)
    # Bitwise the reference run (tools/train.py), which loaded its data in
    # the main process.
    assert_bitwise_equal(checkpoint_state(work / 'epoch_2.pth'),
                         checkpoint_state(reference / 'epoch_2.pth'))
    for key in ('loss', 'loss_cls', 'loss_bbox', 'loss_rpn_cls'):
        assert logged(work, key) == logged(reference, key), key
    assert sorted(logged(work, 'loss')) == list(range(1, 9))
    if tool == 'mmdet':
        # MMDetection's own test.py evaluates both, with no flag.
        tested = [tmp_path / 'test_resumed', tmp_path / 'test_reference']
        for checkpoint, test_dir in zip(
                (work / 'epoch_2.pth', reference / 'epoch_2.pth'), tested):
            run(mmdet_tool('test.py', config, checkpoint, '--work-dir',
                           test_dir), tmp_path)
        assert metrics(tested[0])['metrics'] == metrics(
            tested[1])['metrics']


def test_a_full_disk_stops_the_run_naming_space_and_resume(
        uninterrupted, tmp_path):
    config, _ = uninterrupted
    work = tmp_path / 'work'
    command = python_tool('train.py', config, '--work-dir', work)
    # The second save (epoch_1.pth, after the mid-epoch one of iteration
    # 3) finds the disk full halfway.
    log = interrupted(['save:2:ENOSPC'], command, tmp_path, returncode=1)
    error = log.strip().splitlines()[-1]
    assert error.startswith(f'error: no space left in {work} to write '
                            'epoch_1.pth: it needs about ')
    needed, free = [
        int(number.replace(',', ''))
        for number in (error.split('needs about ')[1].split(' bytes')[0],
                       error.split(' bytes and ')[1].split(' bytes')[0])
    ]
    size = (work / 'epoch_1_iter_3.pth').stat().st_size
    # The estimate counts tensors; the file adds the config and metadata.
    assert 0.9 * size < needed <= size
    assert free > 0
    assert (f'the previous checkpoint, {work}/epoch_1_iter_3.pth, is intact'
            in error)
    assert error.endswith('Free space, then resume by running the same '
                          'training command with --resume (the same config, '
                          'work dir, launcher and processes)')
    # The fragment is gone at once; last_checkpoint names the intact file.
    assert sorted(p.name for p in work.glob('*.pth*')) == [
        'epoch_1_iter_3.pth']
    assert (work / 'last_checkpoint').read_text() == str(
        work / 'epoch_1_iter_3.pth')
