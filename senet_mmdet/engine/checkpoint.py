"""Checkpoint files that load without running code, written so that an
interrupted save never replaces a complete file.

Loading: ``torch.load(..., weights_only=True)`` rebuilds tensors and plain
containers only, so a file cannot run code when loaded; a full unpickle can
(a pickled ``__reduce__`` runs any function). Once ``senet_mmdet`` is
imported, every local checkpoint that mmengine reads (``load_from``,
``--resume``, the checkpoint given to ``tools/test.py``, MMDetection's own
or ours, ``Pretrained`` files, ``init_detector``, ``DetInferencer``) loads
weights-only, on any torch version. The few classes that mmengine itself
pickles into the checkpoints its Runner writes (the message hub's
``HistoryBuffer`` with its NumPy arrays, schedulers' ``Counter``
milestones) are allow-listed (:data:`MMENGINE_CHECKPOINT_GLOBALS`), so a
checkpoint of any mmengine run loads without opting in to anything. A file
that needs more is refused with an error naming ``--unsafe-load`` (our
tools) and :data:`UNSAFE_LOAD_ENVIRONMENT` (any tool), the opt-ins for full
unpickling of files one trusts. Remote files (``http://``,
``torchvision://``, ``open-mmlab://``) go through mmengine's
``torch.load`` call, which is weights-only by default on torch >= 2.6, the
pinned stack.

Writing: :func:`to_weights_only` turns those mmengine objects into tensors
and plain containers before our checkpoint hook saves, so that our
checkpoints load with a bare ``torch.load(weights_only=True)`` too, and
:func:`from_weights_only` turns them back after a load.
:func:`commit_checkpoint` checks a freshly written file loads, forces it
to disk and only then renames it over its final name.
"""
import codecs
import functools
import os
import os.path as osp
import pickle
import types
import warnings
from collections import Counter, OrderedDict
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader
from mmengine.utils import digit_version

from senet_mmdet.utils import listing

UNSAFE_LOAD_FLAG = '--unsafe-load'
# The same opt-in for tools that have no such flag (MMDetection's own).
UNSAFE_LOAD_ENVIRONMENT = 'SENET_MMDET_UNSAFE_LOAD'
# A freshly written checkpoint is ``<final name><PARTIAL_SUFFIX>`` until it
# is complete, so a kill mid-write never leaves a fragment under a name that
# ``--resume`` or a user would load.
PARTIAL_SUFFIX = '.partial'
# Marks a plain-container stand-in for an object weights-only loading refuses.
_KIND = '__senet_mmdet_kind__'

_unsafe_load_allowed = False


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used: the message names it and the fix."""


def allow_unsafe_load() -> None:
    """Let this process unpickle in full the checkpoints that weights-only
    loading refuses (the ``--unsafe-load`` flag of the tools).

    Unpickling can run any code the file holds: opt in only for files you
    wrote or otherwise trust.
    """
    global _unsafe_load_allowed
    _unsafe_load_allowed = True


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """``getattr`` as mmengine's checkpoints call it, and only so.

    A ``HistoryBuffer`` pickles its statistics methods (``min``, ``max``,
    ``current``, ``mean``) as ``getattr(HistoryBuffer, name)``. The real
    ``getattr`` cannot be allow-listed: applied to the classes a file may
    name, it reaches ``object.__subclasses__`` and from there any code.
    """
    method = vars(HistoryBuffer).get(name) if owner is HistoryBuffer else None
    if name.startswith('_') or not callable(method):
        raise pickle.UnpicklingError(
            f'getattr({owner!r}, {name!r}): weights-only loading lets a '
            'file call getattr only for the statistics methods of '
            "mmengine's HistoryBuffer")
    return method


def _numpy_globals() -> Dict[str, Any]:
    """The NumPy functions and classes that pickling a numeric array or
    scalar names, under the module names of NumPy 1 and 2 (a file names
    the ones of the NumPy that wrote it)."""
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    names = {'numpy.ndarray': np.ndarray, 'numpy.dtype': np.dtype}
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        names[f'{module}._reconstruct'] = reconstruct
        names[f'{module}.scalar'] = scalar
    # NumPy 2 pickles a dtype by its class; object arrays stay refused.
    for code in '?bhilqBHILQefdgFDG':
        dtype_class = type(np.dtype(code))
        if dtype_class is not np.dtype:
            names[f'numpy.dtypes.{dtype_class.__name__}'] = dtype_class
    return names


# What mmengine 0.10.7's Runner pickles into its checkpoints beside tensors
# and plain containers, by the name a file refers to it with.
MMENGINE_CHECKPOINT_GLOBALS: Dict[str, Any] = {
    'mmengine.logging.history_buffer.HistoryBuffer': HistoryBuffer,
    'collections.Counter': Counter,
    'builtins.getattr': _history_buffer_method,
    **_numpy_globals(),
}


# torch 2.6 added allow-list entries given by name (``(object, name)``),
# which the getattr stand-in needs.
_NAMED_SAFE_GLOBALS = digit_version(torch.__version__) >= digit_version(
    '2.6.0')


@functools.lru_cache(maxsize=None)
def _fallback_allow_list() -> Dict[str, Any]:
    """Torch's weights-only globals and :data:`MMENGINE_CHECKPOINT_GLOBALS`,
    by name: built once, not at every global a file names."""
    return {
        **torch._weights_only_unpickler._get_allowed_globals(),
        # How protocol 2 pickles bytes; torch's unpickler takes it
        # without listing it.
        '_codecs.encode': codecs.encode,
        **MMENGINE_CHECKPOINT_GLOBALS
    }


class _AllowListUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :func:`_fallback_allow_list`'s
    globals: the allow-list on torch < 2.6, whose ``torch.load`` takes no
    list of its own."""

    def find_class(self, module: str, name: str) -> Any:
        module = {'__builtin__': 'builtins'}.get(module, module)
        path = f'{module}.{name}'
        allowed = _fallback_allow_list()
        if path not in allowed:
            raise pickle.UnpicklingError(
                f'Unsupported global: GLOBAL {path} is not allow-listed')
        return allowed[path]


def _load_with_allow_list(filename: str, map_location) -> Any:
    """``torch.load`` weights-only, with mmengine's checkpoint classes
    allowed too (torch >= 2.6: torch's own allow-list, by name; earlier:
    :class:`_AllowListUnpickler`, as ``torch.load`` takes one)."""
    if _NAMED_SAFE_GLOBALS:
        allowed = [(value, path)
                   for path, value in MMENGINE_CHECKPOINT_GLOBALS.items()]
        with torch.serialization.safe_globals(allowed):
            return torch.load(
                filename, map_location=map_location, weights_only=True)
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        pickle_module = types.SimpleNamespace(
            Unpickler=_AllowListUnpickler, load=pickle.load,
            __name__='senet_mmdet_allow_list')
        return torch.load(
            filename, map_location=map_location, weights_only=False,
            pickle_module=pickle_module)


def _unsafe_load_wanted() -> bool:
    return _unsafe_load_allowed or os.environ.get(
        UNSAFE_LOAD_ENVIRONMENT, '') == '1'


def load_weights_only(filename: str, map_location=None) -> Any:
    """``torch.load`` a local file weights-only, mmengine's own checkpoint
    classes allowed (:data:`MMENGINE_CHECKPOINT_GLOBALS`); full unpickling
    only after :func:`allow_unsafe_load` or with
    ``SENET_MMDET_UNSAFE_LOAD=1`` in the environment.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        CheckpointError: the file needs full unpickling, or is not a
            complete checkpoint (for example the fragment of a killed save).
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    try:
        return _load_with_allow_list(filename, map_location)
    except pickle.UnpicklingError as error:
        if _unsafe_load_wanted():
            return torch.load(
                filename, map_location=map_location, weights_only=False)
        reason = str(error).strip().splitlines()[-1]
        raise CheckpointError(
            f'{filename} holds Python objects besides tensors, plain '
            f'containers and what mmengine itself saves ({reason}), so '
            'loading it weights-only fails, and unpickling it in full could '
            'run code hidden in the file. If you trust the file, pass '
            f'{UNSAFE_LOAD_FLAG} to senet_mmdet\'s tools, or set '
            f'{UNSAFE_LOAD_ENVIRONMENT}=1 for any tool (MMDetection\'s own '
            'included); otherwise re-save its tensors with a trusted '
            'tool') from None
    except (RuntimeError, EOFError) as error:
        raise CheckpointError(
            f'{filename} is not a complete checkpoint ({error}); it may be '
            'the fragment of an interrupted save or a broken download: '
            'resume from or load another checkpoint') from None


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local_weights_only(filename: str, map_location=None) -> Any:
    """mmengine's loader for local paths, replaced by the weights-only one."""
    return load_weights_only(filename, map_location)


def _plain(value: Any) -> Any:
    """``value`` with every object that weights-only loading refuses
    replaced by tensors and plain containers."""
    if isinstance(value, HistoryBuffer):
        log, count = value.data
        return {
            _KIND: 'HistoryBuffer',
            'log_history': torch.from_numpy(np.asarray(log).copy()),
            'count_history': torch.from_numpy(np.asarray(count).copy()),
            'max_length': value.max_length
        }
    if isinstance(value, Counter):
        return {_KIND: 'Counter', 'items': _plain(dict(value))}
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        # Weights-only loading knows dict and OrderedDict, not subclasses
        # such as mmengine's ConfigDict.
        cls = OrderedDict if isinstance(value, OrderedDict) else dict
        return cls((key, _plain(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    return value


def _rebuilt(value: Any) -> Any:
    """The inverse of :func:`_plain` for the objects it stands in for."""
    if isinstance(value, dict):
        kind = value.get(_KIND)
        if kind == 'HistoryBuffer':
            return HistoryBuffer(value['log_history'].numpy(),
                                 value['count_history'].numpy(),
                                 value['max_length'])
        if kind == 'Counter':
            return Counter(_rebuilt(value['items']))
        return type(value)(
            (key, _rebuilt(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_rebuilt(item) for item in value]
    return value


# The parts of an mmengine checkpoint that may hold such objects; the model
# and optimizer states are tensors and plain containers already.
_CONVERTED_PARTS = ('meta', 'message_hub', 'param_schedulers')


def to_weights_only(checkpoint: Dict[str, Any]) -> None:
    """Make an mmengine training checkpoint loadable with
    ``weights_only=True``, in place."""
    for part in _CONVERTED_PARTS:
        if part in checkpoint:
            checkpoint[part] = _plain(checkpoint[part])


def from_weights_only(checkpoint: Dict[str, Any]) -> None:
    """Undo :func:`to_weights_only` in place, so resuming gets the message
    hub's history and the schedulers' milestones back as mmengine wrote
    them."""
    for part in _CONVERTED_PARTS:
        if part in checkpoint:
            checkpoint[part] = _rebuilt(checkpoint[part])


def _fsync_folder(folder: str) -> None:
    """Persist a rename: the folder's entry, not only the file's bytes."""
    descriptor = os.open(folder or '.', os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def commit_checkpoint(partial: str, final: str) -> None:
    """Move a freshly written checkpoint from ``partial`` to ``final`` only
    once it is complete and on disk.

    The file is loaded back first: one that does not load is an error and
    the previous checkpoints stay; one that loads only by full unpickling (a
    hook stored an object :func:`to_weights_only` does not know) is kept
    with a warning, since it is still complete.
    """
    with open(partial, 'rb') as file:
        os.fsync(file.fileno())
    try:
        load_weights_only(partial, map_location='cpu')
    except CheckpointError as error:
        if 'not a complete checkpoint' in str(error):
            raise
        warnings.warn(
            f'{final} will need {UNSAFE_LOAD_FLAG} to load: {error}')
    os.replace(partial, final)
    _fsync_folder(osp.dirname(final))


def write_text_atomically(path: str, text: str) -> None:
    """Replace ``path``'s content with ``text`` so that a reader sees the
    old or the new content, never a part of either."""
    partial = path + PARTIAL_SUFFIX
    with open(partial, 'w') as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    _fsync_folder(osp.dirname(path))


def state_dict_of(checkpoint: Any) -> Dict[str, torch.Tensor]:
    """The model tensors of a loaded checkpoint, without the ``module.``
    prefix that DataParallel/DDP adds (as mmengine strips it)."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    return {
        key[len('module.'):] if key.startswith('module.') else key: value
        for key, value in state_dict.items()
    }


def checkpoint_problems(model: torch.nn.Module, checkpoint: Any,
                        max_listed: int = 5) -> Dict[str, Optional[str]]:
    """What keeps ``checkpoint`` from being exactly ``model``'s weights.

    Returns ``{'fit': ..., 'finite': ...}``: each is None when that check
    passes, else a message naming the first ``max_listed`` offending keys.
    """
    expected = model.state_dict()
    given = state_dict_of(checkpoint)
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    reshaped = [
        f'{key} {tuple(given[key].shape)} vs {tuple(value.shape)}'
        for key, value in expected.items()
        if key in given and given[key].shape != value.shape
    ]
    fit = []
    if missing:
        fit.append(f'{len(missing)} of the model\'s tensors are missing '
                   f'({listing(missing, max_listed)})')
    if unexpected:
        fit.append(f'{len(unexpected)} tensors have no place in the model '
                   f'({listing(unexpected, max_listed)})')
    if reshaped:
        fit.append(f'{len(reshaped)} tensors have another shape, checkpoint '
                   f'vs model ({listing(reshaped, max_listed)})')
    nonfinite = [
        key for key, value in given.items()
        if torch.is_tensor(value) and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]
    return dict(
        fit='; '.join(fit) or None,
        finite=(f'{len(nonfinite)} tensors hold NaN or infinity '
                f'({listing(nonfinite, max_listed)})')
        if nonfinite else None)
