"""tools/slurm_batch.sh's decisions, with stand-ins for srun and scontrol:
it passes a signal on to srun, requeues the job when the training saved
and stopped (status 75) until MAX_REQUEUES, and otherwise ends with the
training's status (a real Slurm runs it in test_launchers.py)."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .utils import REPO, TOOLS, wait_for

BATCH = TOOLS / 'slurm_batch.sh'


def stand_ins(folder: Path, srun_body: str) -> dict:
    """PATH with an srun running ``srun_body`` (its arguments recorded)
    and an scontrol that records its calls."""
    bin_dir = folder / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(
        f'#!/usr/bin/env bash\necho "$@" > {folder}/srun_args\n{srun_body}\n')
    (bin_dir / 'scontrol').write_text(
        f'#!/usr/bin/env bash\necho "$@" >> {folder}/scontrol_calls\n')
    for name in ('srun', 'scontrol'):
        (bin_dir / name).chmod(0o755)
    return dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}',
                SLURM_JOB_ID='7', SLURM_SUBMIT_DIR=str(REPO),
                MAX_REQUEUES='2')


def batch(folder: Path, env: dict, **extra) -> subprocess.Popen:
    return subprocess.Popen(['bash', str(BATCH), 'config.py', 'work'],
                            cwd=folder, env=dict(env, **extra), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize('status,restarts,returncode,requeued', [
    (75, '0', 0, True),
    (75, '1', 0, True),
    (75, '2', 75, False),
    (0, '0', 0, False),
    (1, '0', 1, False),
])
def test_requeues_a_saved_stop_until_the_cap(tmp_path, status, restarts,
                                            returncode, requeued):
    env = stand_ins(tmp_path, f'exit {status}')
    job = batch(tmp_path, env, SLURM_RESTART_COUNT=restarts)
    out, err = job.communicate(timeout=60)
    assert job.returncode == returncode, out + err
    arguments = (tmp_path / 'srun_args').read_text().split()
    assert arguments[:2] == ['--kill-on-bad-exit=1', 'python']
    assert arguments[3:] == [f'{TOOLS}/train.py', 'config.py',
                             '--work-dir=work', '--launcher=slurm',
                             '--resume']
    calls = tmp_path / 'scontrol_calls'
    assert (calls.read_text() == 'requeue 7\n') if requeued else (
        not calls.exists())
    if status == 75 and not requeued:
        assert 'requeued 2 times already (MAX_REQUEUES=2): not again' in err


def test_a_signal_to_the_script_reaches_the_training(tmp_path):
    # The training stand-in saves and stops (75) when srun passes it USR2.
    env = stand_ins(
        tmp_path, 'trap "exit 75" USR2\nwhile :; do sleep 0.1; done')
    job = batch(tmp_path, env)
    wait_for((tmp_path / 'srun_args').exists, 30, 'srun to start')
    time.sleep(0.5)
    job.send_signal(signal.SIGUSR2)
    out, err = job.communicate(timeout=60)
    assert job.returncode == 0, out + err
    assert 'slurm_batch: SIGUSR2 received, passed to the training tasks' in out
    assert (tmp_path / 'scontrol_calls').read_text() == 'requeue 7\n'


def test_missing_arguments_print_the_usage(tmp_path):
    env = stand_ins(tmp_path, 'exit 0')
    job = subprocess.run(['bash', str(BATCH), 'config.py'], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert job.returncode == 2
    assert 'usage: sbatch [options]' in job.stderr
    assert 'CONFIG WORK_DIR [train.py args]' in job.stderr
    assert not (tmp_path / 'srun_args').exists()
