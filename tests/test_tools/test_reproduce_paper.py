"""tools/reproduce_paper.py: the plan, the data check and the bad input (in
`make test`), and the whole chain rehearsed on CPU with the protocols' own
configs on a miniature COCO (marker ``launchers``: `make test-launchers`;
`make paper-rehearsal` runs the torchrun one)."""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from mmengine.config import Config

from mmdet.datasets import CocoDataset
from senet_mmdet.datasets import ToyShapesSpec, make_toy_coco
from .utils import (REPO, TIMEOUT, free_port, job_state, load_tool,
                    python_tool, run, tool_in_process, wait_for)

TOOL = 'reproduce_paper.py'
TABLE7 = 'faster-rcnn_{}-caffe_fpn_tpami-table7-2x_coco'
C4 = 'faster-rcnn_{}-caffe-c4_cvpr-basic_coco-2014'
# COCO's own category ids: 1 to 90 with gaps, one per class of the 80.
COCO_IDS = [
    *range(1, 12), *range(13, 26), 27, 28, *range(31, 45), *range(46, 66),
    67, 70, *range(72, 83), *range(84, 91)
]


def reproduce(*args, cwd=REPO) -> subprocess.CompletedProcess:
    return tool_in_process(TOOL, *args, cwd=cwd)


def test_table7_dry_run_for_8_gpus_prints_runs_batch_iterations_and_cost():
    result = reproduce('--protocol', 'tpami-table7', '--gpus', '8',
                       '--dry-run')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'batch: 16 images per iteration' in out
    assert 'yours: 16 (1 node(s) x 8 GPUs)' in out
    assert ('length: 180000 iterations (Detectron 2x: lr 0.02, steps at '
            '120k and 160k); each run ends with iter_180000.pth') in out
    # 0.546 s/iter x 180k x 8 GPUs = 218.4 GPU-hours, SE x 1.064.
    assert (f'{TABLE7.format("r50")}: 218 GPU-hours, 27.3 h on 8 GPUs '
            '(0.546 s/iter on 8 x NVIDIA Tesla P100') in out
    assert f'{TABLE7.format("se-r50")}: 232 GPU-hours' in out
    assert f'{TABLE7.format("r101")}: 259 GPU-hours' in out
    assert 'total: 985 GPU-hours, 123 h on 8 GPUs one after another' in out
    assert 'Detectron MODEL_ZOO.md' in out and 'make bench' in out
    assert 'measured on a 2-core CPU, not a GPU' in out
    assert ('paper AP: ResNet-50 38.0, SE 40.4, ResNet-101 39.9, SE 41.9'
            in out)
    assert 'ResNet-50 37.9, ResNet-101 39.8 (Detectron MODEL_ZOO.md' in out
    commands = [line.strip() for line in out.splitlines()
                if 'dist_train.sh' in line or 'dist_test.sh' in line]
    assert len(commands) == 8
    for backbone, (train, test) in zip(
            ('r50', 'se-r50', 'r101', 'se-r101'),
            zip(commands[::2], commands[1::2])):
        name = TABLE7.format(backbone)
        assert f'configs/senet/{name}.py 8 --work-dir ' in train
        assert f'work_dirs/paper/{name}/seed_0 --auto-scale-lr' in train
        assert train.endswith('--cfg-options randomness.seed=0')
        assert f'{name}/seed_0/iter_180000.pth 8 --work-dir' in test
    assert 'warning' not in result.stderr


def test_slurm_dry_run_submits_one_requeueing_job_per_run_then_the_table(
        monkeypatch):
    monkeypatch.delenv('MASTER_PORT', raising=False)
    result = reproduce('--protocol', 'cvpr-basic', '--launcher', 'slurm',
                       '--gpus', '8', '--nodes', '1', '--seeds', '2',
                       '--partition', 'gpu', '--time', '12:00:00',
                       '--dry-run')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'length: 320000 iterations' in out
    assert 'each run ends with iter_320000.pth' in out
    # cvpr-basic is 8 GPUs x 1 image: the configs' batch at 8 GPUs.
    assert 'batch: 8 images per iteration' in out
    assert '4 configs x 2 seed(s)' in out
    jobs = [line.strip() for line in out.splitlines()
            if line.strip().startswith('JOB_')]
    assert len(jobs) == 8
    assert 'slurm_batch.sh' in jobs[0] and '--gres=gpu:8' in jobs[0]
    assert '--partition=gpu' in jobs[0] and '--time=12:00:00' in jobs[0]
    # Jobs that share a node rendezvous on ports of their own.
    assert '--export=ALL,MASTER_PORT=29500' in jobs[0]
    assert '--export=ALL,MASTER_PORT=29507' in jobs[7]
    assert f'{C4.format("r50")}/seed_0' in jobs[0]
    assert f'{C4.format("se-r101")}/seed_1' in jobs[7]
    assert '--auto-scale-lr --cfg-options randomness.seed=1' in jobs[7]
    final = [line for line in out.splitlines()
             if '--dependency=afterany:$JOB_1:' in line]
    assert len(final) == 1 and ':$JOB_8' in final[0]
    assert '--test-only' in final[0]
    assert 'tools/test.py' in out and '--launcher slurm' in out



def test_the_slurm_dry_run_is_a_plan_to_paste_into_a_shell(tmp_path):
    """The printed lines, run by bash with an sbatch that records its
    arguments: each job id reaches the table job's dependency, the table
    job's own shell variables stay for the job, and no line is left over."""
    calls = tmp_path / 'calls'
    sbatch = tmp_path / 'bin' / 'sbatch'
    sbatch.parent.mkdir()
    sbatch.write_text('#!/bin/bash\n'
                      f'echo "$*" >> {calls}\n'
                      f'echo $((100 + $(wc -l < {calls})))\n')
    sbatch.chmod(0o755)
    work = tmp_path / 'work'
    result = reproduce('--protocol', 'flagship-1x', '--launcher', 'slurm',
                       '--gpus', '2', '--work-dir', work, '--dry-run')
    assert result.returncode == 0, result.stderr
    plan = result.stdout.split('commands:\n')[1]
    assert 'paper_table.py' not in plan
    shell = subprocess.run(
        ['bash', '-euc', plan], capture_output=True, text=True,
        env=dict(os.environ, PATH=f'{sbatch.parent}:{os.environ["PATH"]}'))
    assert shell.returncode == 0, shell.stderr
    train_1, train_2, table = calls.read_text().splitlines()
    assert 'slurm_batch.sh' in train_1 and 'slurm_batch.sh' in train_2
    assert '--dependency=afterany:101:102 ' in table
    assert 'PYTHONPATH=' in table and '${PYTHONPATH:+:$PYTHONPATH}' in table
    assert '--test-only' in table
    for backbone in ('r50', 'se-r50'):
        assert (work / f'faster-rcnn_{backbone}_fpn_1x_coco' / 'seed_0'
                ).is_dir()


def test_fewer_gpus_warn_of_the_protocol_change_and_the_fix():
    result = reproduce('--protocol', 'tpami-table7', '--gpus', '4',
                       '--dry-run')
    assert result.returncode == 0
    warning = result.stderr
    assert ('1 node(s) x 4 GPUs x 2 images = a total batch of 8, not the '
            "protocol's 16: this changes the protocol") in warning
    assert '--auto-scale-lr' in warning and '8/16' in warning
    assert '--cfg-options train_dataloader.batch_size=4 keeps' in warning
    # Half the protocol's batch: half its GPU-hours, the same wall time.
    assert "your total batch is 8, not the protocol's 16" in result.stdout
    assert '109 GPU-hours, 27.3 h on 4 GPUs' in result.stdout


@pytest.mark.parametrize('args, batch, run_hours, total', [
    # 0.546 s/iter x 180k x 8 GPUs = 218.4 GPU-hours at 16 images.
    (['--gpus', '8'], 16, '218 GPU-hours, 27.3 h on 8 GPUs',
     'total: 985 GPU-hours, 123 h on 8 GPUs'),
    # 16 images on 4 GPUs: the protocol's cost, twice the wall time.
    (['--gpus', '4', '--cfg-options', 'train_dataloader.batch_size=4'], 16,
     '218 GPU-hours, 54.6 h on 4 GPUs',
     'total: 985 GPU-hours, 246 h on 4 GPUs'),
    # 2 images per iteration: 218.4 x 2/16.
    (['--gpus', '1'], 2, '27 GPU-hours, 27.3 h on 1 GPUs',
     'total: 123 GPU-hours, 123 h on 1 GPUs'),
    # 32 images per iteration: 218.4 x 32/16.
    (['--launcher', 'slurm', '--nodes', '2'], 32,
     '437 GPU-hours, 27.3 h on 16 GPUs',
     'total: 1970 GPU-hours, 123 h on 16 GPUs'),
])
def test_gpu_hours_follow_the_total_batch_and_say_when_it_is_not_the_paper(
        args, batch, run_hours, total):
    result = reproduce('--protocol', 'tpami-table7', *args, '--dry-run')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f'{TABLE7.format("r50")}: {run_hours} (0.546 s/iter' in out
    assert total in out
    caveat = (f"your total batch is {batch}, not the protocol's 16: the "
              f'figures below are scaled by {batch}/16, assuming each image '
              'costs the published time (linear throughput per image); '
              "they estimate another protocol, not the paper's")
    assert (caveat in out) == (batch != 16)



def quoted_gpu_hours() -> dict:
    """The last cell of each row of docs/reproduce.md's GPU-hours table:
    ``{protocol: {label: hours, 'total': hours, 'wall': hours}}``."""
    quoted = {}
    page = (REPO / 'docs' / 'reproduce.md').read_text()
    section = page.split('## GPU-hours')[1].split('\n## ')[0]
    for protocol, cell in re.findall(r'^\| `([\w-]+)` \|.*\| ([^|]+) \|$',
                                     section, re.MULTILINE):
        runs, total = cell.split('; ')
        figures = {label: int(hours) for label, hours in
                   re.findall(r'((?:SE-)?R-\d+) (\d+)', runs)}
        figures['total'] = int(re.match(r'(\d+) in all', total)[1])
        wall = re.search(r'(\d+) h on 8 GPUs', total)
        if wall:
            figures['wall'] = int(wall[1])
        quoted[protocol] = figures
    return quoted


def printed_gpu_hours(out: str) -> dict:
    """The same figures as the dry run prints them for 8 GPUs."""
    printed = {}
    for se, depth, hours in re.findall(
            r'^    \S+?_(se-)?r(\d+)[-_]\S*: (\d+) GPU-hours', out,
            re.MULTILINE):
        printed[f'{"SE-" if se else ""}R-{depth}'] = int(hours)
    total = re.search(r'total: (\d+) GPU-hours, (\d+) h on 8 GPUs', out)
    printed.update(total=int(total[1]), wall=int(total[2]))
    return printed


def test_the_docs_quote_the_gpu_hours_the_dry_run_prints():
    quoted = quoted_gpu_hours()
    tool = load_tool(REPO / 'tools' / TOOL)
    assert sorted(quoted) == sorted(tool.PROTOCOLS)
    for protocol, figures in quoted.items():
        result = reproduce('--protocol', protocol, '--gpus', '8',
                           '--dry-run')
        assert result.returncode == 0, result.stderr
        printed = printed_gpu_hours(result.stdout)
        assert len(figures) >= len(tool.PROTOCOLS[protocol].runs) + 1
        assert figures == {label: printed[label] for label in figures}, (
            f'docs/reproduce.md quotes {figures} for {protocol}; the dry '
            f'run prints {printed}')



@pytest.mark.parametrize('readme', ['README.md', 'configs/senet/README.md'])
def test_the_journal_version_is_cited_as_the_readmes_cite_it(readme):
    bibtex = (REPO / readme).read_text().split('@article{hu2020senet')[1]
    field = {name: re.search(name + r'\s*= \{(\d+)\}', bibtex)[1]
             for name in ('volume', 'number', 'year')}
    title = load_tool(REPO / 'tools' / TOOL).PROTOCOLS['tpami-table7'].title
    assert title.startswith(
        'journal version (arXiv 1709.01507v4, IEEE TPAMI '
        f'{field["volume"]}({field["number"]}), {field["year"]}), Table 7')


@pytest.mark.parametrize('args, message', [
    (['--protocol', 'table9'],
     "unknown protocol 'table9'; choose one of: tpami-table7 (journal"),
    (['--protocol', 'tpami-table7', '--nodes', '2'],
     '--nodes 2 with --launcher torchrun: this command runs on one node; '
     'for several nodes per run use --launcher slurm'),
    (['--protocol', 'flagship-1x', '--seeds', '0'],
     '--seeds 0: give at least 1'),
])
def test_bad_arguments_are_named(args, message, tmp_path):
    result = reproduce(*args, '--work-dir', tmp_path / 'work')
    assert result.returncode == 1
    assert message in result.stderr
    assert not (tmp_path / 'work').exists()


def test_slurm_without_sbatch_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    result = reproduce('--protocol', 'flagship-1x', '--launcher', 'slurm',
                       '--work-dir', tmp_path / 'work')
    assert result.returncode == 1
    assert ('error: --launcher slurm needs sbatch, which is not on PATH'
            in result.stderr)


def touch_coco(root: Path, names) -> None:
    """Empty stand-ins for COCO's files: the data check tests existence."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith('.json'):
            path.write_text('{}')
        else:
            path.mkdir(exist_ok=True)


COCO_2017 = ['annotations/instances_train2017.json',
             'annotations/instances_val2017.json', 'train2017', 'val2017']


def test_missing_data_is_named_with_where_it_comes_from(tmp_path):
    coco = tmp_path / 'coco'
    touch_coco(coco, COCO_2017[1:])
    result = reproduce('--protocol', 'tpami-table7', '--data-root', coco,
                       '--work-dir', tmp_path / 'work', cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == ('error: the data of protocol tpami-table7 is '
                        'incomplete (docs/reproduce.md shows the layout):')
    # One line for the file, however many configs read it.
    assert len(lines) == 2
    assert lines[1].strip().startswith(
        f'{coco}/annotations/instances_train2017.json (train_dataloader.'
        'dataset.ann_file of faster-rcnn_r50-caffe_fpn_tpami-table7-2x_coco)'
        ' does not exist; it is COCO 2017 annotations: http://images.'
        'cocodataset.org/annotations/annotations_trainval2017.zip, or python ')
    assert ('/.mim/tools/misc/download_dataset.py --dataset-name coco2017 '
            f'--save-dir {coco}/ --unzip') in lines[1]
    assert not (tmp_path / 'work').exists()



def test_the_dry_run_prints_the_data_check_and_goes_on(tmp_path):
    coco = tmp_path / 'coco'
    touch_coco(coco, COCO_2017[1:])
    args = ('--protocol', 'tpami-table7', '--data-root', coco, '--work-dir',
            tmp_path / 'work')
    dry = reproduce(*args, '--dry-run', cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    real = reproduce(*args, cwd=tmp_path)
    assert real.returncode == 1
    # The same lines as the run that stops, each missing item named.
    error = real.stderr.strip().removeprefix('error: ')
    assert f'data: {error}\n  (a run stops here with this error; the dry ' \
        'run goes on)\ncommands:' in dry.stdout
    assert 'instances_train2017.json (train_dataloader' in error
    assert not (tmp_path / 'work').exists()
    touch_coco(coco, COCO_2017[:1])
    complete = reproduce(*args, '--dry-run', cwd=tmp_path)
    assert ('data: every annotation file and image folder the configs '
            'read is there\ncommands:') in complete.stdout


def test_the_2017_layout_where_2014_is_needed_is_named(tmp_path):
    coco = tmp_path / 'coco'
    touch_coco(coco, COCO_2017)
    result = reproduce('--protocol', 'cvpr-basic', '--data-root', coco,
                       '--work-dir', tmp_path / 'work', cwd=tmp_path)
    assert result.returncode == 1
    missing = result.stderr.splitlines()[1:]
    # Train and val annotations, train and val images.
    assert len(missing) == 4
    train = [line for line in missing if 'instances_train2014' in line][0]
    assert (f'{coco}/annotations/instances_train2017.json is there: that is '
            'the COCO 2017 layout, and this protocol needs COCO 2014\'s '
            'files') in train
    assert 'download_dataset.py --dataset-name coco2014' in train
    images = [line for line in missing if line.strip().startswith(
        f'{coco}/val2014')][0]
    assert 'http://images.cocodataset.org/zips/val2014.zip' in images


def test_a_work_dir_of_another_run_is_refused_untouched(tmp_path):
    coco = tmp_path / 'coco'
    touch_coco(coco, COCO_2017)
    work = tmp_path / 'work'
    arguments = ('--protocol', 'flagship-1x', '--data-root', coco,
                 '--work-dir', work)
    # A run of another config left in the plain run's folder.
    plain = work / 'faster-rcnn_r50_fpn_1x_coco' / 'seed_0'
    plain.mkdir(parents=True)
    (plain / 'retinanet_se-r50_fpn_1x_coco.py').write_text('# dumped')
    (plain / 'epoch_3.pth').write_text('weights')
    result = reproduce(*arguments, cwd=tmp_path)
    assert result.returncode == 1
    assert (f'error: {plain} holds a run of retinanet_se-r50_fpn_1x_coco.py '
            '(its dumped config), not of faster-rcnn_r50_fpn_1x_coco.py; '
            'choose another --work-dir, or move') in result.stderr
    assert sorted(path.name for path in plain.iterdir()) == [
        'epoch_3.pth', 'retinanet_se-r50_fpn_1x_coco.py']
    # Another seed's or other options' run, recorded in its manifest.
    shutil.rmtree(plain)
    plain.mkdir()
    (plain / 'reproduce.json').write_text(json.dumps(dict(
        config='configs/senet/faster-rcnn_r50_fpn_1x_coco.py', seed=0,
        cfg_options=[f'train_dataloader.dataset.data_root={coco}/',
                     'optim_wrapper.optimizer.lr=0.01',
                     'randomness.seed=0'])))
    result = reproduce(*arguments, cwd=tmp_path)
    assert result.returncode == 1
    assert f'error: {plain} holds a run with other cfg_options' in (
        result.stderr)
    assert "'optim_wrapper.optimizer.lr=0.01'" in result.stderr


def test_a_nonfinite_stop_is_read_from_the_training_log(tmp_path):
    tool = load_tool(REPO / 'tools' / TOOL)
    log = tmp_path / 'reproduce.log'
    log.write_text(
        'Iter(train) [3/4] loss: nan\n'
        'error: training stopped at iteration 3 (epoch 1, batch 3): '
        'non-finite loss (loss_cls=nan); the last checkpoint, iter_2.pth, '
        'is from before it and was kept. Lower the learning rate\n')
    assert tool.nonfinite_stop(str(log)).startswith(
        'training stopped at iteration 3 (epoch 1, batch 3): non-finite '
        'loss (loss_cls=nan); the last checkpoint')
    log.write_text('error: config file x.py does not exist\n')
    assert tool.nonfinite_stop(str(log)) is None


def test_a_run_stopped_at_a_nonfinite_loss_is_recorded_and_kept(
        tmp_path, monkeypatch):
    tool = load_tool(REPO / 'tools' / TOOL)
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    (protocol_run, ) = tool.PROTOCOLS['flagship-1x'].runs[:1]
    plan = tool.Plan(protocol_run, 0, str(run_dir), ['randomness.seed=0'],
                     Config(dict(train_cfg=dict(max_epochs=12))))
    message = ('error: training stopped at iteration 7 (epoch 1, batch 7): '
               'non-finite loss (loss_bbox=inf); the last checkpoint, '
               'epoch_1_iter_5.pth, is from before it and was kept.')
    commands = []

    def diverging(command, log):
        commands.append(command)
        Path(log).write_text(message + '\n')
        return 1, False

    monkeypatch.setattr(tool, 'run_logged', diverging)
    done = tool.train_and_test(plan, argparse.Namespace(gpus=8))
    assert done == f'stopped at a non-finite loss: {message[7:]}'
    record = json.loads((run_dir / 'stopped.json').read_text())
    assert record['reason'] == message[7:]
    # Not trained again, and not tested: the table says why.
    assert tool.train_and_test(plan, argparse.Namespace(gpus=8)).startswith(
        'stopped earlier at a non-finite loss')
    assert len(commands) == 1 and 'dist_train.sh' in commands[0][1]


# The rehearsal: a miniature COCO in COCO's own layout.
def write_mini_coco(root: Path) -> Path:
    """Toy shapes as COCO: ``train2017/``, ``val2017/``, ``train2014/``,
    ``val2014/`` and ``annotations/instances_{train,val}{2017,2014}.json``
    with COCO's 80 category names and ids; the shapes are labelled person
    (1), dog (18) and toothbrush (90)."""
    toy = root / 'toy'
    make_toy_coco(str(toy), ToyShapesSpec(num_train=8, num_val=4,
                                          image_size=128, seed=3))
    categories = [dict(id=cat_id, name=name, supercategory='')
                  for cat_id, name in zip(COCO_IDS,
                                          CocoDataset.METAINFO['classes'])]
    to_coco = {1: 1, 2: 18, 3: 90}
    (root / 'annotations').mkdir()
    for split in ('train', 'val'):
        toy_set = json.loads(
            (toy / 'annotations' / f'instances_{split}.json').read_text())
        for annotation in toy_set['annotations']:
            annotation['category_id'] = to_coco[annotation['category_id']]
        for year in ('2017', '2014'):
            shutil.copytree(toy / split, root / f'{split}{year}')
            (root / 'annotations' / f'instances_{split}{year}.json'
             ).write_text(json.dumps(dict(
                 images=toy_set['images'],
                 annotations=toy_set['annotations'],
                 categories=categories)))
    shutil.rmtree(toy)
    return root


# The protocols' configs, shrunk: 4 iterations at batch 1 on 128x96
# images, no pretrained weights, few proposals, no evaluation during
# training, a checkpoint every 2 iterations (only the newest kept: an R-101
# checkpoint is 0.5 GB), every detection kept.
REHEARSAL = [
    'model.backbone.init_cfg=None',
    'train_dataloader.batch_size=1',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0',
    'val_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False',
    'train_dataloader.dataset.pipeline.2.scale=(128,96)',
    'val_dataloader.dataset.pipeline.1.scale=(128,96)',
    'test_dataloader.dataset.pipeline.1.scale=(128,96)',
    'train_cfg.max_iters=4',
    'train_cfg.val_begin=1000',
    'default_hooks.checkpoint.interval=2',
    'default_hooks.checkpoint.max_keep_ckpts=1',
    'default_hooks.logger.interval=1',
    'model.train_cfg.rpn_proposal.max_per_img=64',
    'model.train_cfg.rcnn.sampler.num=32',
    'model.test_cfg.rpn.max_per_img=32',
    'model.test_cfg.rcnn.score_thr=0.0',
]


def trained_iterations(run_dir: Path) -> int:
    """The training iterations a run has logged so far."""
    steps = [0]
    for log in run_dir.glob('*/vis_data/scalars.json'):
        steps += [entry['step'] for entry in map(
            json.loads, log.read_text().splitlines()) if 'loss' in entry]
    return max(steps)


def table_rows(table: str) -> dict:
    return {
        tuple(cells[:2]): cells[2:]
        for cells in ([cell.strip() for cell in line.strip('|').split('|')]
                      for line in table.splitlines()
                      if line.startswith('| ResNet'))
    }


@pytest.mark.launchers
def test_torchrun_rehearsal_of_table7_trains_resumes_tests_and_tabulates(
        tmp_path):
    coco = write_mini_coco(tmp_path / 'coco')
    work = tmp_path / 'paper'
    command = python_tool(TOOL, '--protocol', 'tpami-table7', '--gpus', '1',
                          '--work-dir', work, '--data-root', coco,
                          '--cfg-options', *REHEARSAL)
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(free_port()))
    names = [TABLE7.format(backbone)
             for backbone in ('r50', 'se-r50', 'r101', 'se-r101')]
    runs = [work / name / 'seed_0' for name in names]

    # SIGTERM to the command once the first run has trained an iteration:
    # the training saves and stops, and so does the command.
    first = subprocess.Popen(command, cwd=tmp_path, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: trained_iterations(runs[0]) >= 1 or
             first.poll() is not None, TIMEOUT, 'the first iteration',
             every=0.2)
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 75, out[-2000:] + err[-3000:]
    assert (f'{names[0]} seed 0: stopped by a signal after saving; run the '
            'same command again to resume') in err
    saved = (runs[0] / 'last_checkpoint').read_text()
    assert re.fullmatch(r'.*/iter_[123]\.pth', saved), saved
    assert not (runs[0] / 'iter_4.pth').exists()
    # The other runs' work dirs hold their records only.
    assert [path.name for path in runs[1].iterdir()] == ['reproduce.json']

    # The same command again: the first run resumes, the others train.
    second = run(command, tmp_path, env=env)
    out = second.stdout
    assert (f'{names[0]} seed 0: resumed from {Path(saved).name}, trained, '
            'tested iter_4.pth') in out
    for name in names[1:]:
        assert f'{name} seed 0: trained, tested iter_4.pth' in out
    log = (runs[0] / 'reproduce.log').read_text()
    assert 'stopped: SIGTERM received' in log
    assert '--auto-scale-lr --resume' in log

    table = (work / 'table.md').read_text()
    assert table.startswith(
        '### faster-rcnn_{backbone}-caffe_fpn_tpami-table7-2x_coco (paper: '
        'journal version, Table 7')
    rows = table_rows(table)
    for depth, paper in ((50, ['38.0', '40.4', '+2.4']),
                         (101, ['39.9', '41.9', '+2.0'])):
        plain, se = (json.loads((work / TABLE7.format(backbone) / 'seed_0'
                                 / 'test_metrics.json').read_text())
                     for backbone in (f'r{depth}', f'se-r{depth}'))
        measured = rows[(f'ResNet-{depth}', 'AP')]
        # Every cell from the runs (AP 0 says so), the paper's beside.
        assert measured[0].startswith(
            f"{100 * plain['metrics'].get('coco/bbox_mAP', 0):.1f}")
        assert measured[1].startswith(
            f"{100 * se['metrics'].get('coco/bbox_mAP', 0):.1f}")
        assert measured[2] != 'not measured'
        assert measured[3:] == paper
        assert plain['checkpoint'].endswith('iter_4.pth')
    assert ('Sanity anchor, the published AP of the plain detector with '
            'this schedule: ResNet-50 37.9, ResNet-101 39.8') in table
    data = json.loads((work / 'table.json').read_text())
    (protocol, ) = data['protocols']
    assert [len(row['plain']) + len(row['se'])
            for row in protocol['rows']] == [2, 2]
    assert (work / 'table.png').stat().st_size > 10_000

    # A third time: everything is kept.
    third = run(command, tmp_path, env=env)
    for name in names:
        assert f'{name} seed 0: finished earlier, kept' in third.stdout


FLAGSHIP = 'faster-rcnn_{}_fpn_1x_coco'
# The 1x configs are epoch-based: one epoch of the 8 images at batch 1.
FLAGSHIP_REHEARSAL = [
    option.replace('train_cfg.max_iters=4', 'train_cfg.max_epochs=1')
    for option in REHEARSAL if option != 'default_hooks.checkpoint.interval=2'
]


def submitted_jobs(output: str) -> dict:
    """What the command printed: run or 'table' -> its Slurm job."""
    jobs = {}
    for line in output.splitlines():
        found = re.match(r'(\S+) seed 0: job (\d+)', line) or re.match(
            r'(tests and table): job (\d+)', line)
        if found:
            jobs[found.group(1)] = found.group(2)
    return jobs


@pytest.mark.launchers
def test_slurm_rehearsal_of_the_flagship_submits_requeues_and_tabulates(
        slurm, tmp_path):
    coco = write_mini_coco(tmp_path / 'coco')
    work = tmp_path / 'paper'
    plain, se = (FLAGSHIP.format(backbone) for backbone in ('r50', 'se-r50'))
    command = python_tool(
        TOOL, '--protocol', 'flagship-1x', '--launcher', 'slurm', '--gpus',
        '1', '--cpus-per-task', '1', '--cpu-only', '--partition', 'local',
        '--work-dir', work, '--data-root', coco, '--cfg-options',
        *FLAGSHIP_REHEARSAL)
    # MAX_REQUEUES=0: a signalled training saves and ends instead of
    # requeueing itself (a requeued job waits 2 minutes to start again), so
    # that the command is run again to go on.
    env = dict(os.environ, **slurm, OMP_NUM_THREADS='1', MAX_REQUEUES='0',
               MASTER_PORT=str(free_port()))

    def finished(job: str) -> bool:
        return job_state(job, env)['JobState'] in ('COMPLETED', 'FAILED',
                                                   'CANCELLED', 'TIMEOUT')

    first = run(command, tmp_path, env=env)
    jobs = submitted_jobs(first.stdout)
    assert set(jobs) == {plain, se, 'tests and table'}, first.stdout
    assert job_state(jobs['tests and table'], env)['Dependency'].startswith(
        f'afterany:{jobs[plain]}')
    # Slurm signals the plain run's job as before a time limit, once it
    # has trained an iteration: it saves and stops.
    plain_run = work / plain / 'seed_0'
    wait_for(lambda: trained_iterations(plain_run) >= 1, TIMEOUT,
             'the first iteration', every=0.5)
    subprocess.run(['scancel', '--signal=USR2', '--batch', jobs[plain]],
                   env=env, check=True)
    wait_for(lambda: finished(jobs['tests and table']), TIMEOUT,
             'the table job', every=1)
    log = (plain_run / f'slurm-{jobs[plain]}.log').read_text()
    assert 'slurm_batch: SIGUSR2 received' in log, log[-3000:]
    assert 'MAX_REQUEUES=0' in log
    table = (work / 'table.md').read_text()
    rows = table_rows(table)
    assert rows[('ResNet-50', 'AP')][0].startswith(
        'no number: training not finished (epoch_1_iter_'), table
    se_metrics = json.loads(
        (work / se / 'seed_0' / 'test_metrics.json').read_text())
    assert se_metrics['checkpoint'].endswith('epoch_1.pth')
    assert rows[('ResNet-50', 'AP')][1].startswith(
        f"{100 * se_metrics['metrics'].get('coco/bbox_mAP', 0):.1f}")

    # The same command again: only the plain run is submitted; it resumes.
    second = run(command, tmp_path, env=env)
    assert f'{se} seed 0: tested, no training job' in second.stdout
    jobs = submitted_jobs(second.stdout)
    assert set(jobs) == {plain, 'tests and table'}, second.stdout
    wait_for(lambda: finished(jobs['tests and table']), TIMEOUT,
             'the table job', every=1)
    assert job_state(jobs[plain], env)['JobState'] == 'COMPLETED'
    resumed = (plain_run / f'slurm-{jobs[plain]}.log').read_text()
    assert 'resuming epoch 1 after its batch' in resumed, resumed[-3000:]
    plain_metrics = json.loads((plain_run / 'test_metrics.json').read_text())
    assert plain_metrics['checkpoint'].endswith('epoch_1.pth')
    rows = table_rows((work / 'table.md').read_text())
    assert rows[('ResNet-50', 'AP')][0].startswith(
        f"{100 * plain_metrics['metrics'].get('coco/bbox_mAP', 0):.1f}")
    assert rows[('ResNet-50', 'AP')][3:] == ['not in the paper'] * 3
    assert 'ResNet-50 37.4 (MMDetection configs/faster_rcnn/README.md' in (
        work / 'table.md').read_text()
    assert (work / 'table.png').stat().st_size > 10_000
