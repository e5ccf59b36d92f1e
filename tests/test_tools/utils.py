"""Helpers of the tool tests: tiny toy configs and running the tools."""
import contextlib
import importlib.util
import io
import json
import os
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import torch

import mmdet

REPO = Path(__file__).parents[2]
TOOLS = REPO / 'tools'
# MMDetection's own tools/train.py and tools/test.py, as the mmdet package
# ships them.
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'
TOY = REPO / 'configs' / 'toy'
FASTER = TOY / 'faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py'
FASTER_PLAIN = TOY / 'faster-rcnn_r18_fpn-lean_8e_toy-shapes.py'
MASK = TOY / 'mask-rcnn_se-r18_fpn-lean_8e_toy-shapes.py'
SPEC = dict(num_train=16, num_val=8)
TIMEOUT = 600


def tiny_config(folder: Path, data_root: Path, base: Path = FASTER,
                epochs: int = 1, extra: str = '') -> Path:
    """A config over ``base`` that trains ``epochs`` short epochs on a
    small toy set in ``data_root`` and keeps every detection for testing,
    so even a barely trained model has predictions to compare. Its name
    keeps MMDetection's fields (``..._toy-shapes-tiny.py``), so the paper
    table puts a plain and an SE tiny config in one protocol. ``extra``
    (config lines) comes last."""
    loader = ('dict(batch_size=4, num_workers=0, persistent_workers=False, '
              'dataset=dict(data_root=data_root, toy_spec=toy_spec))')
    path = folder / f'{base.stem}-tiny.py'
    path.write_text(f"""_base_ = '{base}'
data_root = '{data_root}/'
toy_spec = {SPEC!r}
train_dataloader = {loader}
val_dataloader = {loader}
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=5))
model = dict(test_cfg=dict(rcnn=dict(score_thr=0.0)))
{extra}""")
    return path


def run(args, cwd, returncode: int = 0,
        **kwargs) -> subprocess.CompletedProcess:
    """Run ``args`` and assert the exit status (-9: killed by SIGKILL)."""
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
        **kwargs)
    assert result.returncode == returncode, (
        f'rc {result.returncode}\n' + result.stdout[-3000:] +
        result.stderr[-3000:])
    return result


def failing(args, cwd, **kwargs) -> subprocess.CompletedProcess:
    """Run a tool that must refuse: rc 1 and an ``error:`` line."""
    result = run(args, cwd, returncode=1, **kwargs)
    assert 'error: ' in result.stderr, result.stderr[-3000:]
    return result


def tool_in_process(name: str, *args,
                    cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python tools/NAME ARGS`` inside the test process, as the
    interpreter would run it (``__main__``, ``sys.argv``, the working
    directory; an exit with a message is rc 1 and the message on stderr).

    For the tests of what a tool refuses before it builds a Runner: a fresh
    interpreter spends about 9 s importing torch and MMDetection, which the
    test process has already done. Whatever trains or writes checkpoints
    runs as a real subprocess (:func:`run`)."""
    path = TOOLS / name
    stdout, stderr = io.StringIO(), io.StringIO()
    argv, folder = sys.argv, os.getcwd()
    sys.argv = [str(path), *map(str, args)]
    os.chdir(cwd)
    returncode = 0
    try:
        with contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(stderr):
            try:
                runpy.run_path(str(path), run_name='__main__')
            except SystemExit as exit_info:
                if isinstance(exit_info.code, str):
                    print(exit_info.code, file=sys.stderr)
                    returncode = 1
                else:
                    returncode = exit_info.code or 0
    finally:
        sys.argv = argv
        os.chdir(folder)
    return subprocess.CompletedProcess([str(path), *map(str, args)],
                                       returncode, stdout.getvalue(),
                                       stderr.getvalue())


def failing_in_process(name: str, *args,
                       cwd: Path) -> subprocess.CompletedProcess:
    """:func:`tool_in_process` of a tool that must refuse: rc 1 and an
    ``error:`` line."""
    result = tool_in_process(name, *args, cwd=cwd)
    assert result.returncode == 1, result.stderr[-3000:]
    assert 'error: ' in result.stderr, result.stderr[-3000:]
    return result


def python_tool(name, *args) -> list:
    return [sys.executable, str(TOOLS / name), *map(str, args)]


def mmdet_tool(name, *args) -> list:
    """``python <mmdet>/.mim/tools/NAME ARGS``: MMDetection's own tool."""
    return [sys.executable, str(MMDET_TOOLS / name), *map(str, args)]


def tool_command(tool: str, name: str, *args) -> list:
    """``name`` (train.py, test.py) of ``tool``: ``'ours'`` (tools/) or
    ``'mmdet'`` (:func:`mmdet_tool`)."""
    return (mmdet_tool if tool == 'mmdet' else python_tool)(name, *args)


def load_tool(path: Path) -> ModuleType:
    """A tool script imported as a module, to test its functions."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def metrics(work_dir: Path) -> dict:
    return json.loads((work_dir / 'test_metrics.json').read_text())


def assert_bitwise_equal(resumed: dict, uninterrupted: dict) -> None:
    """The same structure, every tensor bitwise equal and every other value
    equal (what a resumed run must reproduce of an uninterrupted one)."""
    flat, structure = torch.utils._pytree.tree_flatten(resumed)
    reference, reference_structure = torch.utils._pytree.tree_flatten(
        uninterrupted)
    assert structure == reference_structure
    for got, want in zip(flat, reference):
        if isinstance(want, torch.Tensor):
            assert torch.equal(got, want)
        else:
            assert got == want


def wait_for(condition, seconds: float, what: str,
             every: float = 0.1) -> None:
    """Poll ``condition`` every ``every`` seconds until it holds, at most
    ``seconds``."""
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f'waited {seconds} s for {what}'
        time.sleep(every)


def python_blocks(page: Path):
    """The ```python blocks of a Markdown page, in order."""
    return [block.split('\n', 1)[1]
            for block in page.read_text().split('```')[1::2]
            if block.startswith('python\n')]


def job_state(job: str, env: dict) -> dict:
    """A Slurm job's fields, as ``scontrol show job`` lists them."""
    shown = subprocess.run(['scontrol', 'show', 'job', job], env=env,
                           capture_output=True, text=True, check=True).stdout
    return dict(field.split('=', 1) for field in shown.split()
                if '=' in field)
