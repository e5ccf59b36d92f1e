"""The launchers as a cluster runs them: tools/dist_train.sh and
dist_test.sh as two torchrun nodes on this host, tools/slurm_train.sh and
slurm_test.sh on a real one-node Slurm (tools/slurm/local_cluster.sh), one
rank killed mid-run on each, and ``--resume`` after it.

Every run trains the toy detector on CPU over gloo with seed 0, so a run of
2 processes gives the same weights and metrics whichever launcher started
it. `make test-launchers` runs this file (marker ``launchers``); .ci/run
installs Slurm for it (``apt-get install -y slurm-wlm munge``).
"""
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from .utils import (REPO, TIMEOUT, TOOLS, free_port, job_state, metrics,
                    python_tool, run, tiny_config, wait_for)

pytestmark = pytest.mark.launchers

# Each rank reports its world size and weights (rank_report.py).
REPORT = """custom_imports = dict(
    imports=['senet_mmdet', 'tests.test_tools.rank_report'],
    allow_failed_imports=False)
custom_hooks = [dict(type='RankReportHook')]
"""
# 16 images, 4 per process and step: 2 processes take 2 steps an epoch, so
# global iterations 2 and 3 make epoch 2. Rank 1 dies before iteration 3:
# rank 0 has then finished writing epoch_1.pth (it saves before its step
# 2, whose gradients rank 1 waited for). Before iteration 2, rank 1 could
# die while rank 0 is still writing, and the job would keep nothing.
KILLED_AT = 3


def launcher_env(reports: Path, **extra) -> dict:
    reports.mkdir(parents=True, exist_ok=True)
    return dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
                RANK_REPORT_DIR=str(reports), **extra)


def reported(reports: Path) -> dict:
    """rank -> (its record, its weights after the last step)."""
    return {
        rank: (json.loads((reports / f'rank{rank}.json').read_text()),
               torch.load(reports / f'rank{rank}.pth'))
        for rank in (0, 1)
    }


def assert_same_weights(first: dict, second: dict, atol: float = 0) -> None:
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], atol=atol,
                                   rtol=0 if atol == 0 else 1e-5, msg=key)


def parameters(weights: dict) -> dict:
    """The weights without BatchNorm's running statistics: each rank keeps
    those of its own batches (DDP copies rank 0's only at the next
    forward), while DDP keeps the parameters equal on every rank."""
    return {key: value for key, value in weights.items()
            if not key.endswith(('running_mean', 'running_var',
                                 'num_batches_tracked'))}


def assert_replicas_agree(ranks: dict, reference: dict = None) -> None:
    """Both ranks hold the same parameters; with ``reference`` (the
    one-node run's ranks), each rank holds what that run's rank held."""
    assert_same_weights(parameters(ranks[0][1]), parameters(ranks[1][1]))
    if reference is None:
        return
    for rank in (0, 1):
        assert_same_weights(ranks[rank][1], reference[rank][1], atol=1e-6)


def last_val(work_dir: Path) -> dict:
    """The metrics of the last evaluation the training logged."""
    (scalars, ) = work_dir.glob('*/vis_data/scalars.json')
    return [entry for entry in map(json.loads,
                                   scalars.read_text().splitlines())
            if 'coco/bbox_mAP' in entry][-1]


def torchrun_nodes(script: str, arguments: list, work_dirs: list, env: dict,
                   out: Path, options: tuple = ()) -> list:
    """Launch ``tools/{script} ARGUMENTS 1 --work-dir W OPTIONS`` as node 0
    and node 1 of a 2-node torchrun job with one process each (NNODES=2,
    MASTER_ADDR=127.0.0.1); return their (exit status, output) once both
    ended."""
    env = dict(env, NNODES='2', MASTER_ADDR='127.0.0.1', PORT=str(free_port()))
    launches = []
    for node, work_dir in enumerate(work_dirs):
        log = open(out / f'{script}-node{node}.log', 'w')
        command = ['bash', str(TOOLS / script), *map(str, arguments), '1',
                   '--work-dir', str(work_dir), *options]
        launches.append((subprocess.Popen(
            command, cwd=out, env=dict(env, NODE_RANK=str(node)), stdout=log,
            stderr=subprocess.STDOUT), log))
    ended = []
    for process, log in launches:
        process.wait(timeout=TIMEOUT)
        log.close()
        ended.append((process.returncode, Path(log.name).read_text()))
    return ended


@pytest.fixture(scope='module')
def one_node(tmp_path_factory, toy_root):
    """The reference: tools/dist_train.sh with 2 processes on one node, seed
    0, then tools/dist_test.sh of its checkpoint."""
    folder = tmp_path_factory.mktemp('one_node')
    config = tiny_config(folder, toy_root, extra=REPORT)
    env = launcher_env(folder / 'reports', PORT=str(free_port()))
    log = run(['bash', str(TOOLS / 'dist_train.sh'), config, '2',
               '--work-dir', folder / 'train'], folder, env=env)
    env['PORT'] = str(free_port())
    run(['bash', str(TOOLS / 'dist_test.sh'), config,
         folder / 'train' / 'epoch_1.pth', '2', '--work-dir', folder / 'test',
         '--out', folder / 'test.pkl'], folder, env=env)
    return dict(config=config, folder=folder, log=log.stdout + log.stderr,
                reports=reported(folder / 'reports'))


def test_one_node_of_two_processes_trains_and_tests_like_one_process(
        one_node, tmp_path):
    log, folder = one_node['log'], one_node['folder']
    assert 'Distributed training: True' in log
    assert 'Epoch(train) [1][2/2]' in log
    checkpoint = folder / 'train' / 'epoch_1.pth'
    # The launchers put the repository first on the path, for the hook's
    # `tests` package (site-packages holds another one).
    run(python_tool('test.py', one_node['config'], checkpoint, '--work-dir',
                    tmp_path / 'single', '--out', tmp_path / 'single.pkl'),
        tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert metrics(folder / 'test')['metrics'] == metrics(
        tmp_path / 'single')['metrics']
    # Metrics that agree by accident would not make the predictions agree:
    # both runs saw every val image once, and detected the same boxes.
    with open(folder / 'test.pkl', 'rb') as file:
        dist_results = sorted(pickle.load(file), key=lambda r: r['img_id'])
    with open(tmp_path / 'single.pkl', 'rb') as file:
        single_results = sorted(pickle.load(file), key=lambda r: r['img_id'])
    assert [r['img_id'] for r in dist_results] == list(range(1, 9))
    assert [r['img_id'] for r in single_results] == list(range(1, 9))
    boxes = 0
    for a, b in zip(dist_results, single_results):
        np.testing.assert_allclose(a['pred_instances']['bboxes'],
                                   b['pred_instances']['bboxes'], atol=1e-4)
        np.testing.assert_allclose(a['pred_instances']['scores'],
                                   b['pred_instances']['scores'], atol=1e-5)
        boxes += len(a['pred_instances']['bboxes'])
    assert boxes > 0


def test_two_torchrun_nodes_train_and_test_as_one_node_of_two(
        one_node, tmp_path):
    # Two machines, two local disks: each node has a work dir of its own.
    nodes = [tmp_path / 'node0', tmp_path / 'node1']
    env = launcher_env(tmp_path / 'reports')
    trainings = torchrun_nodes('dist_train.sh', [one_node['config']],
                               nodes, env, tmp_path)
    assert [status for status, _ in trainings] == [0, 0], trainings
    ranks = reported(tmp_path / 'reports')
    assert [ranks[rank][0] for rank in (0, 1)] == [
        dict(rank=0, world_size=2, iter=2),
        dict(rank=1, world_size=2, iter=2)
    ]
    # DDP keeps the replicas equal after the last step, and each rank ends
    # as the same rank of the one-node run of the same seed.
    assert_replicas_agree(ranks, one_node['reports'])
    # Rank 0 alone writes checkpoints and metrics.
    assert (nodes[0] / 'epoch_1.pth').is_file()
    assert not list(nodes[1].rglob('*.pth'))
    assert not list(nodes[1].rglob('scalars.json'))
    reference = one_node['folder']
    expected = last_val(reference / 'train')
    for key, value in last_val(nodes[0]).items():
        if key.startswith('coco/'):
            assert value == pytest.approx(expected[key], abs=1e-3), key

    checkpoint = nodes[0] / 'epoch_1.pth'
    shutil.copy(checkpoint, nodes[1])
    tests = torchrun_nodes(
        'dist_test.sh', [one_node['config'], checkpoint], nodes, env,
        tmp_path)
    assert [status for status, _ in tests] == [0, 0], tests
    assert not (nodes[1] / 'test_metrics.json').exists()
    tested = metrics(nodes[0])['metrics']
    one = metrics(reference / 'test')['metrics']
    assert tested.keys() == one.keys()
    for key in one:
        assert tested[key] == pytest.approx(one[key], abs=1e-3), key


def assert_killed_job_ended(status: int, output: str, named: str,
                            reports: Path, started: float, ended: float,
                            work_dir: Path) -> None:
    """The job of a killed rank ended with an error that names that rank,
    soon after the kill, keeping the checkpoint from before it. Prints the
    seconds from the kill to the job's end (``pytest -s`` shows them)."""
    killed = json.loads((reports / 'killed.json').read_text())
    assert killed['rank'] == 1 and killed['iter'] == KILLED_AT
    assert status != 0
    assert named in output, output[-3000:]
    seconds = ended - killed['time']
    assert started < killed['time'] < ended
    # gloo's own timeout is 30 minutes: a hung peer would take that long.
    assert seconds < 60, seconds
    assert (work_dir / 'epoch_1.pth').is_file()
    assert not (work_dir / 'epoch_2.pth').exists()
    print(f'\nkilled rank 1 at iteration {KILLED_AT}: the job ended '
          f'{seconds:.1f} s later')


def test_torchrun_node_whose_rank_dies_ends_the_job_and_resumes(
        toy_root, tmp_path):
    # A shared work dir (a cluster's network filesystem), so that both
    # nodes resume from the same checkpoint.
    config = tiny_config(tmp_path, toy_root, epochs=2, extra=REPORT)
    work_dir = tmp_path / 'work'
    env = launcher_env(tmp_path / 'reports', KILL_RANK='1',
                       KILL_AT_ITER=str(KILLED_AT))
    started = time.time()
    nodes = torchrun_nodes('dist_train.sh', [config], [work_dir] * 2, env,
                           tmp_path)
    ended = time.time()
    (node0, output0), (node1, output1) = nodes
    # Node 1's agent names its dead worker; node 0 fails with it.
    assert node0 != 0
    assert 'exitcode  : -9' in output1
    assert_killed_job_ended(
        node1, output1, 'rank      : 1', tmp_path / 'reports', started,
        ended, work_dir)

    env = launcher_env(tmp_path / 'reports')
    resumed = torchrun_nodes('dist_train.sh', [config], [work_dir] * 2, env,
                             tmp_path, options=('--resume', ))
    assert [status for status, _ in resumed] == [0, 0], resumed
    assert 'resumed epoch: 1' in resumed[0][1]
    assert (work_dir / 'epoch_2.pth').is_file()
    ranks = reported(tmp_path / 'reports')
    assert ranks[0][0]['iter'] == ranks[1][0]['iter'] == 4
    assert_replicas_agree(ranks)


def slurm_script(name: str, arguments: list, env: dict,
                 cwd: Path) -> subprocess.CompletedProcess:
    """``GPUS=2 GPUS_PER_NODE=2 CPU_ONLY=1 tools/{name} local ...``."""
    return subprocess.run(
        ['bash', str(TOOLS / name), 'local', 'senet-test',
         *map(str, arguments)], cwd=cwd, capture_output=True, text=True,
        timeout=TIMEOUT,
        env=dict(env, GPUS='2', GPUS_PER_NODE='2', CPUS_PER_TASK='1',
                 CPU_ONLY='1', MASTER_PORT=str(free_port())))


def test_slurm_trains_and_tests_as_torchrun_does(one_node, slurm, tmp_path):
    env = launcher_env(tmp_path / 'reports', **slurm)
    work_dir = tmp_path / 'work'
    training = slurm_script('slurm_train.sh', [one_node['config'], work_dir],
                            env, tmp_path)
    assert training.returncode == 0, training.stderr[-3000:]
    assert '--gres' not in training.stderr
    ranks = reported(tmp_path / 'reports')
    assert [ranks[rank][0]['world_size'] for rank in (0, 1)] == [2, 2]
    assert_replicas_agree(ranks, one_node['reports'])

    testing = slurm_script(
        'slurm_test.sh', [one_node['config'], work_dir / 'epoch_1.pth',
                          '--work-dir', tmp_path / 'test'], env, tmp_path)
    assert testing.returncode == 0, testing.stderr[-3000:]
    tested = metrics(tmp_path / 'test')['metrics']
    one = metrics(one_node['folder'] / 'test')['metrics']
    for key in one:
        assert tested[key] == pytest.approx(one[key], abs=1e-3), key


def test_slurm_task_that_dies_ends_the_job_and_resumes(
        slurm, toy_root, tmp_path):
    config = tiny_config(tmp_path, toy_root, epochs=2, extra=REPORT)
    work_dir = tmp_path / 'work'
    env = launcher_env(tmp_path / 'reports', **slurm, KILL_RANK='1',
                       KILL_AT_ITER=str(KILLED_AT))
    started = time.time()
    killed = slurm_script('slurm_train.sh', [config, work_dir], env, tmp_path)
    ended = time.time()
    # srun --kill-on-bad-exit=1 ends every task once one has died.
    assert_killed_job_ended(
        killed.returncode, killed.stderr, 'task 1: Killed',
        tmp_path / 'reports', started, ended, work_dir)

    env = launcher_env(tmp_path / 'reports', **slurm)
    resumed = slurm_script('slurm_train.sh', [config, work_dir, '--resume'],
                           env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed epoch: 1' in resumed.stdout + resumed.stderr
    assert (work_dir / 'epoch_2.pth').is_file()
    assert reported(tmp_path / 'reports')[1][0]['iter'] == 4


# Signals (test_preemption.py for one process): 3 epochs of 2 steps.
PREEMPTED_EPOCHS = 3


@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory, toy_root):
    """The reference for the signalled jobs: 2 processes on one node,
    uninterrupted, 3 epochs."""
    folder = tmp_path_factory.mktemp('two_ranks')
    config = tiny_config(folder, toy_root, epochs=PREEMPTED_EPOCHS,
                         extra=REPORT)
    env = launcher_env(folder / 'reports', PORT=str(free_port()))
    run(['bash', str(TOOLS / 'dist_train.sh'), config, '2', '--work-dir',
         folder / 'work'], folder, env=env)
    return dict(config=config, reports=reported(folder / 'reports'))


def assert_same_run(ranks: dict, reference: dict) -> None:
    """Every rank's weights (BatchNorm statistics included) bitwise those
    of the same rank in the uninterrupted run."""
    for rank in (0, 1):
        assert ranks[rank][0]['iter'] == reference[rank][0]['iter']
        assert_same_weights(ranks[rank][1], reference[rank][1])


def test_sigterm_to_torchruns_agent_saves_on_both_ranks_and_resumes(
        two_ranks, tmp_path):
    work_dir = tmp_path / 'work'
    reports = tmp_path / 'reports'
    command = ['bash', str(TOOLS / 'dist_train.sh'), two_ranks['config'], '2',
               '--work-dir', str(work_dir)]
    # Rank 0 sends SIGTERM to its agent before iteration 4; the agent
    # passes it to both workers.
    env = launcher_env(reports, PORT=str(free_port()),
                       TERM_AGENT_AT_ITER='3')
    stopped = subprocess.run(command, cwd=tmp_path, env=env, text=True,
                             capture_output=True, timeout=TIMEOUT)
    ended = time.time()
    output = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0
    lines = [line for line in output.splitlines()
             if line.startswith('stopped: SIGTERM received: training '
                                'stopped after iteration ')]
    # Both ranks stopped, at the same iteration, after the save.
    assert len(lines) == 2 and lines[0] == lines[1], output[-3000:]
    done = int(lines[0].split('after iteration ')[1].split()[0])
    epoch, batch = (done - 1) // 2 + 1, (done - 1) % 2 + 1
    saved = work_dir / f'epoch_{epoch}_iter_{done}.pth'
    assert f'(epoch {epoch}, batch {batch}); {saved} holds' in lines[0]
    assert (work_dir / 'last_checkpoint').read_text() == str(saved)
    signalled = json.loads((reports / 'signalled.json').read_text())['time']
    print(f'\nSIGTERM to torchrun\'s agent: both ranks saved iteration '
          f'{done} and the job ended {ended - signalled:.1f} s later')
    # Slurm's default KillWait: SIGKILL follows SIGTERM 30 s later.
    assert ended - signalled < 30

    env = launcher_env(reports, PORT=str(free_port()))
    resumed = run([*command, '--resume'], tmp_path, env=env)
    assert (f'resuming epoch {epoch} after its batch {batch} of 2' in
            resumed.stdout + resumed.stderr)
    assert_same_run(reported(reports), two_ranks['reports'])


def elastic_env(reports: Path, backend: str, **extra) -> dict:
    """tools/dist_train.sh's variables for torchrun restarting its workers
    once (MAX_RESTARTS=1) with the rendezvous ``backend``."""
    port = str(free_port())
    return launcher_env(reports, MAX_RESTARTS='1', RDZV_BACKEND=backend,
                        PORT=port, RDZV_ENDPOINT=f'127.0.0.1:{port}',
                        RDZV_ID='elastic-test', **extra)


@pytest.mark.parametrize('backend', ['static', 'c10d'])
def test_elastic_torchrun_restarts_a_killed_rank_to_the_same_weights(
        two_ranks, backend, tmp_path):
    work_dir = tmp_path / 'work'
    reports = tmp_path / 'reports'
    # Started with --resume, as an elastic job must be (each restart runs
    # the same command); a checkpoint after every iteration.
    command = ['bash', str(TOOLS / 'dist_train.sh'), two_ranks['config'], '2',
               '--work-dir', str(work_dir), '--resume', '--cfg-options',
               'default_hooks.checkpoint.mid_epoch_interval=1']
    env = elastic_env(reports, backend, KILL_RANK='1',
                      KILL_AT_ITER=str(KILLED_AT))
    started = time.time()
    # One restart allowed: a restart that failed on the dead attempt's
    # state (or hung) would fail the job.
    result = run(command, tmp_path, env=env)
    ended = time.time()
    output = result.stdout + result.stderr
    killed = json.loads((reports / 'killed.json').read_text())
    assert killed['rank'] == 1 and killed['iter'] == KILLED_AT
    assert 'exitcode: -9' in output, output[-3000:]
    # Iteration 3's checkpoint came before the kill: nothing is trained
    # twice (at most mid_epoch_interval iterations could be).
    assert 'resuming epoch 2 after its batch 1 of 2' in output
    assert_same_run(reported(reports), two_ranks['reports'])
    print(f'\n{backend} rendezvous, rank 1 killed at iteration {KILLED_AT}: '
          f'the restarted job ended {ended - killed["time"]:.1f} s after the '
          f'kill, {ended - started:.1f} s after its start')


def test_elastic_restart_after_a_signal_stops_again_without_training(
        two_ranks, tmp_path):
    work_dir = tmp_path / 'work'
    reports = tmp_path / 'reports'
    command = ['bash', str(TOOLS / 'dist_train.sh'), two_ranks['config'], '2',
               '--work-dir', str(work_dir), '--resume']
    # SIGTERM reaches rank 0 but not torchrun's agent: both ranks save and
    # exit 75, which the agent takes for a failure and restarts.
    env = elastic_env(reports, 'static', TERM_RANK_AT_ITER='2')
    stopped = subprocess.run(command, cwd=tmp_path, env=env, text=True,
                             capture_output=True, timeout=TIMEOUT)
    output = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0
    assert output.count('stopped: SIGTERM received: training stopped after '
                        'iteration 3 (epoch 2, batch 1)') == 2, output[-3000:]
    assert output.count('and the launcher restarted it in place (restart 1): '
                        'not training again') == 2
    assert 'exitcode: 75' in output
    assert json.loads((reports / 'progress.json').read_text())['iter'] == 3
    # A new job resumes where the signal stopped the first one.
    env = launcher_env(reports, PORT=str(free_port()))
    resumed = run(command, tmp_path, env=env)
    assert 'resuming epoch 2 after its batch 1 of 2' in (resumed.stdout +
                                                         resumed.stderr)
    assert_same_run(reported(reports), two_ranks['reports'])


def test_slurm_batch_job_signalled_twice_requeues_itself_to_the_end(
        two_ranks, slurm, tmp_path):
    work_dir = tmp_path / 'work'
    reports = tmp_path / 'reports'
    log = tmp_path / 'job.log'
    env = launcher_env(reports, **slurm, MAX_REQUEUES='2',
                       MASTER_PORT=str(free_port()))
    # Submitted from the repository root, where the script finds tools/.
    job = subprocess.run(
        ['sbatch', '-p', 'local', '--ntasks=2', '--cpus-per-task=1',
         f'--output={log}', '--parsable',
         str(TOOLS / 'slurm_batch.sh'), str(two_ranks['config']),
         str(work_dir)], cwd=REPO, env=env, capture_output=True, text=True,
        check=True).stdout.strip()
    progress = reports / 'progress.json'

    def iterations() -> int:
        return json.loads(progress.read_text())['iter'] if (
            progress.is_file()) else 0

    def running() -> bool:
        return job_state(job, env)['JobState'] == 'RUNNING'

    trained = 0
    for restarts in (1, 2):
        # Once this start has trained an iteration, signal the batch
        # script as Slurm does 120 s before the time limit.
        wait_for(lambda: running() and iterations() > trained, 300,
                 f'start {restarts} of job {job} to train', every=1)
        subprocess.run(['scancel', '--signal=USR2', '--batch', job], env=env,
                       check=True)
        # Saved, stopped and requeued by the script (Slurm delays a
        # requeued job's start by about 2 minutes).
        wait_for(lambda: job_state(job, env)['Restarts'] == str(restarts),
                 120, f'requeue {restarts} of job {job}', every=1)
        trained = iterations()
    wait_for(lambda: job_state(job, env)['JobState'] == 'COMPLETED', 400,
             f'job {job} to complete', every=1)
    output = log.read_text()
    assert output.count('slurm_batch: SIGUSR2 received') == 2, output[-3000:]
    assert output.count('slurm_batch: the training saved and stopped; '
                        f'requeueing job {job}') == 2
    assert 'start 3 (requeued 2 of at most 2 times)' in output
    assert output.count('stopped: SIGUSR2 received') == 4  # 2 tasks, twice
    # srun: 'task 1: Exited with exit code 75', or 'tasks 0-1: ...'; no
    # task killed by --kill-on-bad-exit before its own exit.
    assert output.count('Exited with exit code 75') >= 2
    assert 'Terminated' not in output and 'Killed' not in output
    assert (work_dir / f'epoch_{PREEMPTED_EPOCHS}.pth').is_file()
    assert_same_run(reported(reports), two_ranks['reports'])
