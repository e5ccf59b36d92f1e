"""Runs PaddleClas's SE models in paddle, for tests/test_checkpoints/
test_paddleclas.py, in a process of its own (paddle stays out of the test
process):

    python paddleclas_reference.py OUT FILE:FACTORY [FILE:FACTORY ...]

For each model: seed-0 random weights (float32 values) saved with
``paddle.save`` to
``OUT/<FACTORY>_pretrained.pdparams`` and its four stage outputs in
float64 on the input ``OUT/input.npy`` to ``OUT/<FACTORY>_stage<i>.npy``.
"""
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import paddle

# PaddleClas's model files import the package's pretrained-weight loader
# by a relative import; the package itself imports far more (OpenCV,
# faiss, ...). The files are run inside a stand-in package instead.
PACKAGE = 'paddleclas_models'


def paddleclas_module(name: str) -> types.ModuleType:
    """``ppcls/arch/backbone/model_zoo/<name>.py`` of the installed
    paddleclas, loaded with a stand-in for its weight loader."""
    if f'{PACKAGE}.arch.backbone.model_zoo.{name}' in sys.modules:
        return sys.modules[f'{PACKAGE}.arch.backbone.model_zoo.{name}']
    for package in ('', '.utils', '.arch', '.arch.backbone',
                    '.arch.backbone.model_zoo'):
        module = types.ModuleType(PACKAGE + package)
        module.__path__ = []
        sys.modules.setdefault(PACKAGE + package, module)
    loader = types.ModuleType(f'{PACKAGE}.utils.save_load')
    loader.load_dygraph_pretrain = None
    sys.modules.setdefault(loader.__name__, loader)
    root = Path(importlib.util.find_spec('paddleclas')
                .submodule_search_locations[0])
    spec = importlib.util.spec_from_file_location(
        f'{PACKAGE}.arch.backbone.model_zoo.{name}',
        root / 'ppcls' / 'arch' / 'backbone' / 'model_zoo' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def randomized(model):
    """Seed-0 random weights and BatchNorm statistics, in float64, residual
    branches scaled down as a trained network's are."""
    rng = np.random.default_rng(0)
    model.to(dtype='float64')
    names = model.state_dict()
    # A residual branch's last norm: conv2's in a bottleneck, conv1's in a
    # basic block.
    blocks = {name.split('.')[0] for name in names if name.startswith('bb_')}
    last_norms = {
        f'{block}.conv2._batch_norm.weight'
        if f'{block}.conv2._conv.weight' in names else
        f'{block}.conv1._batch_norm.weight'
        for block in blocks
    }
    state = {}
    for name, tensor in names.items():
        shape = tensor.shape
        if name.endswith('_variance'):
            value = rng.random(shape) + 0.5
        elif name in last_norms:
            value = rng.random(shape) * 0.2
        elif name.endswith('_batch_norm.weight'):
            value = rng.random(shape) + 0.5
        elif len(shape) == 1:
            value = rng.standard_normal(shape) * 0.1
        else:
            fan_in = np.prod(shape[1:]) if len(shape) == 4 else shape[0]
            value = rng.standard_normal(shape) * (2.0 / fan_in)**0.5
        # float32 values, so that the float32 file holds exactly the
        # weights the float64 reference computes with.
        state[name] = value.astype('float32').astype('float64')
    model.set_state_dict(state)
    model.eval()
    return model


def paddle_stages(model, x: np.ndarray):
    """The four stage outputs of a PaddleClas SE model."""
    with paddle.no_grad():
        y = paddle.to_tensor(x)
        if hasattr(model, 'conv'):
            y = model.conv(y)
        else:
            y = model.conv1_3(model.conv1_2(model.conv1_1(y)))
        y = model.pool2d_max(y)
        outputs = {}
        for name, block in model.named_children():
            if name.startswith('bb_'):
                y = block(y)
                outputs[int(name.split('_')[1])] = y
    return [outputs[stage].numpy() for stage in range(4)]



def main() -> None:
    out = Path(sys.argv[1])
    x = np.load(out / 'input.npy')
    for model in sys.argv[2:]:
        file, factory = model.split(':')
        # Paddle refuses a parameter name twice in one process unless each
        # model gets its own name scope.
        with paddle.utils.unique_name.guard():
            network = getattr(paddleclas_module(file), factory)()
        network = randomized(network)
        for stage, output in enumerate(paddle_stages(network, x)):
            np.save(out / f'{factory}_stage{stage}.npy', output)
        # Saved in float32, as PaddleClas's files are.
        network.to(dtype='float32')
        paddle.save(network.state_dict(),
                    str(out / f'{factory}_pretrained.pdparams'))


if __name__ == '__main__':
    main()
