"""What the deployment tools share: their timing and checkpoint options,
the checks of their file arguments, the latency they report, and what
mmdeploy 1.3.1 needs from torch to export on torch releases newer than
it."""
import argparse
import contextlib
import functools
import inspect
import os.path as osp
import statistics
import time
from typing import Callable, Iterable, Iterator

import torch
import torch.onnx.symbolic_opset9 as symbolic_opset9

from senet_mmdet.engine import UNSAFE_LOAD_FLAG

# The newest torch on which mmdeploy 1.3.1 was seen to export a detector
# here (make test runs the export on it).
LAST_TORCH_KNOWN_TO_EXPORT = '2.13.0'
# ONNX's TensorProto.INT64.
ONNX_INT64 = 7


class ExporterUnavailableError(RuntimeError):
    """This torch has no TorchScript-based ONNX exporter, which mmdeploy's
    symbolic rewrites need."""


def _cast_long(g, tensor, non_blocking):
    """What torch's symbolic_opset9._cast_Long emitted: an ONNX Cast to
    INT64 (``non_blocking`` has no meaning in ONNX)."""
    return g.op('Cast', tensor, to_i=ONNX_INT64)


def _torchscript_export(export: Callable) -> Callable:
    @functools.wraps(export)
    def export_with_torchscript(*args, **kwargs):
        kwargs.setdefault('dynamo', False)
        return export(*args, **kwargs)

    return export_with_torchscript


@contextlib.contextmanager
def mmdeploy_torch_compat() -> Iterator[None]:
    """While mmdeploy 1.3.1 exports, give it the torch it was written for.

    Two shims, each applied only where this torch needs it and undone on
    exit:

    - ``torch.onnx.export(..., dynamo=False)``: torch 2.9 made the
      dynamo-based exporter the default, and mmdeploy's rewrites are
      TorchScript symbolics. Remove when mmdeploy passes ``dynamo=False``
      itself (onedl-mmdeploy, a maintained fork, does) or exports with
      dynamo.
    - ``torch.onnx.symbolic_opset9._cast_Long``, which mmdeploy's RoIAlign
      symbolic imports and torch removed with the other ``_cast_*``
      helpers: a stand-in emitting the same ONNX Cast. Remove when
      mmdeploy stops importing it.

    Raises :class:`ExporterUnavailableError` where the TorchScript-based
    exporter is gone (torch.onnx.export without a ``dynamo`` switch on a
    torch newer than 2.8).
    """
    export = torch.onnx.export
    has_switch = 'dynamo' in inspect.signature(export).parameters
    if not has_switch and torch.__version__ >= (2, 9):
        raise ExporterUnavailableError(
            f'torch {torch.__version__} has no TorchScript-based ONNX '
            'exporter (torch.onnx.export takes no dynamo=False), which '
            'mmdeploy 1.3.1 needs; the last torch known to work is '
            f'{LAST_TORCH_KNOWN_TO_EXPORT}')
    restore = []
    if has_switch:
        restore.append((torch.onnx, 'export', export))
        torch.onnx.export = _torchscript_export(export)
    if not hasattr(symbolic_opset9, '_cast_Long'):
        restore.append((symbolic_opset9, '_cast_Long', None))
        symbolic_opset9._cast_Long = _cast_long
    try:
        yield
    finally:
        for owner, name, original in reversed(restore):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def add_timing_and_loading_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--repeat', type=int, default=5,
                        help='timed runs of each runtime (median)')
    parser.add_argument(
        UNSAFE_LOAD_FLAG, action='store_true',
        help='unpickle the checkpoint in full if weights-only loading '
        'refuses it (only for files you trust)')


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace,
                    files: Iterable[str]) -> None:
    """Stop with a usage error naming the first of ``files`` (argument
    names; each a path, a list of paths or None) that does not exist, or a
    ``--repeat`` under 1."""
    for name in files:
        paths = getattr(args, name)
        for path in paths if isinstance(paths, list) else [paths]:
            if path is not None and not osp.isfile(path):
                parser.error(f'{name.replace("_", "-")} {path} does not '
                             'exist')
    if args.repeat < 1:
        parser.error(f'--repeat must be at least 1, got {args.repeat}')


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: allocations, thread pools, lazy initialisation
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
