"""Fixtures shared by the tool tests: one small toy set and one trained
checkpoint for the whole session, since training is the slow part (made
once, however many pytest-xdist workers run); a local Slurm cluster for the
launcher tests."""
import fcntl
import getpass
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from senet_mmdet.datasets import ToyShapesSpec, make_toy_coco
from .utils import (SPEC, TOOLS, free_port, python_tool, run, tiny_config,
                    wait_for)


def made_once(tmp_path_factory, name: str,
              make: Callable[[Path], None]) -> Path:
    """The folder ``name``, filled by ``make(folder)`` once for the whole
    session: pytest-xdist's workers share it (the first to take the lock
    fills it, the others wait and reuse it), so that make test's two
    processes train the session's toy detector once, not twice."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        # Each worker's base folder lies in the session's.
        root = root.parent
    folder = root / name
    with open(root / f'{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / '.made').exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / '.made').touch()
    return folder


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory):
    return made_once(
        tmp_path_factory, 'toy_shapes',
        lambda folder: make_toy_coco(str(folder / 'toy'),
                                     ToyShapesSpec(**SPEC))) / 'toy'


def train_one_epoch(folder: Path, toy_root: Path) -> None:
    config = tiny_config(folder, toy_root)
    run(python_tool('train.py', config, '--work-dir', folder / 'work',
                    '--tensorboard'), folder)


@pytest.fixture(scope='session')
def trained(tmp_path_factory, toy_root):
    """One epoch of the toy Faster R-CNN, trained with tools/train.py
    ``--tensorboard``; its work dir holds the JSON and TensorBoard logs."""
    folder = made_once(tmp_path_factory, 'trained',
                       lambda folder: train_one_epoch(folder, toy_root))
    (config, ) = folder.glob('*-tiny.py')
    return config, folder / 'work' / 'epoch_1.pth'


@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    """A one-node Slurm cluster (2 CPUs are enough) for this module."""
    missing = [command for command in ('slurmctld', 'slurmd', 'munged', 'srun')
               if shutil.which(command) is None]
    if missing:
        pytest.skip(f'{", ".join(missing)} not installed: '
                    'apt-get install -y slurm-wlm munge (.ci/run does)')
    folder = tmp_path_factory.mktemp('slurm')
    script = str(TOOLS / 'slurm' / 'local_cluster.sh')
    ports = dict(SLURMCTLD_PORT=str(free_port()),
                 SLURMD_PORT=str(free_port()), CPUS='2')
    run(['bash', script, 'start', folder], folder,
        env=dict(os.environ, **ports))
    conf = dict(SLURM_CONF=str(folder / 'slurm.conf'))
    yield conf
    # A test that failed may leave jobs running: their processes would
    # outlive the daemons.
    env = dict(os.environ, **conf)
    subprocess.run(['scancel', '--full', '--signal=KILL', '--user',
                    getpass.getuser()], env=env, capture_output=True)
    wait_for(lambda: not subprocess.run(
        ['squeue', '-h', '-t', 'RUNNING,COMPLETING'], env=env,
        capture_output=True, text=True).stdout.strip(), 60,
        'the cancelled jobs to end', every=0.5)
    run(['bash', script, 'stop', folder], folder)
