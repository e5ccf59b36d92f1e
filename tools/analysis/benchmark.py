"""SE at the paper's cost? A side-by-side CPU benchmark, all in one process.

Compares, on the same inputs and in interleaved rounds (each round times
every model once, so a slow spell of the machine hits all of them):

- ``resnet50``: MMDetection's ResNet-50 (the baseline of every ratio);
- ``resnet50_copy``: a second, separately allocated copy of it, timed like
  the others: the ratio of two identical models is the noise of the
  measurement, printed beside the ratios it qualifies;
- ``se_resnet50``: our SE-ResNet-50 (the fused SE step after BatchNorm);
- ``straightforward_se``: our SE-ResNet-50 with ``fuse_se=False``: pool,
  two 1x1 convs, sigmoid, multiply, as in the paper's equations;
- ``mmpretrain_se_resnet50``: mmpretrain's SEResNet-50 (if installed);
- two floors of SE's cost (eager inference only), ResNet-50 running part
  of an SE block in every bottleneck and dropping its result:
  ``resnet50_plus_se_fcs``, the excitation (two FCs, sigmoid) of a
  constant descriptor, which no SE implementation can skip (it reads the
  FCs' 2.5M weights per image); ``resnet50_plus_se_gates``, the squeeze of
  the last norm's output and its excitation, all of SE but applying the
  gate.

Sections: parameters and FLOPs (mmengine's complexity analysis, beside the
paper's); backbone inference, eager and under ``torch.compile`` (1x3x224x224,
8x3x224x224 and 1x3x800x1216, NCHW and channels_last); a backbone training
step with frozen BatchNorm (the detection setting: 2x3x512x512,
norm_eval=True, frozen_stages=1) and with live BatchNorm (training mode,
as in from-scratch training and pretraining: 2x3x256x256, norm_eval=False,
frozen_stages=-1): time, peak memory and the bytes autograd saves for
backward; and a Faster R-CNN FPN training iteration and inference
(backbone, neck, RPN and RoI head on fixed proposals, so that random
weights do not change the work). ``time_ratio`` divides a model's median
over the rounds by ResNet-50's; ``min_ratio`` does the same with the
fastest rounds. Each row runs at least ``--rounds`` rounds and more while
ResNet-50's rounds add up to less than ``--min-seconds``, so that the
fast rows (batch 1 at 224x224) get as many samples as their noise needs.

Compiled rows leave mmpretrain's model and the floors out. Under
``torch.compile`` SE-ResNet runs the fused step as plain operations on large
feature maps and the straightforward form on small ones
(``seresnet.COMPILED_FUSED_MIN_PIXELS``); ``straightforward_se`` shows the
straightforward form everywhere beside it.

    python tools/analysis/benchmark.py [--rounds N] [--min-seconds S]
        [--out FILE.json] [--quick] [--compile-backend inductor]
"""
import argparse
import copy
import ctypes
import functools
import gc
import json
import logging
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.hub import get_config
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData
from mmengine.utils import mkdir_or_exist
from torch import Tensor, nn

import senet_mmdet  # noqa: F401  (registers the SE modules)
from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from senet_mmdet.models import SEResNet
from senet_mmdet.models.layers import SqueezeExcitation

# MMDetection's own detector: only the backbone type changes between runs.
FASTER_RCNN = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
# Paper Table 2 (GFLOPs = multiply-adds at 224x224) and the prototxt
# parameter counts less the 1000-class FC (SENET_FACTS.md).
PAPER = {
    'resnet50_caffe': dict(gflops=3.86, params_m=23.508),
    'se_resnet50_caffe': dict(gflops=3.87, params_m=26.039),
}
BASELINE = 'resnet50'
# The A/A control: the baseline again, in memory of its own.
BASELINE_COPY = 'resnet50_copy'
# The timed backbones, as (class, arguments beyond every row's own): each SE
# row is a twin of the baseline that differs in SE only (style, stem pool,
# norm, input equal; senet_mmdet.apis.config_diff.beyond_se, tested).
BACKBONES = {
    BASELINE: (ResNet, {}),
    'se_resnet50': (SEResNet, {}),
    'straightforward_se': (SEResNet, dict(fuse_se=False)),
}
# The complexity rows: pytorch and caffe style, each plain with its SE twin.
COMPLEXITY = {
    'resnet50': (ResNet, dict(depth=50)),
    'se_resnet50': (SEResNet, dict(depth=50, fuse_se=False)),
    'resnet50_caffe': (ResNet, dict(depth=50, style='caffe')),
    'se_resnet50_caffe': (SEResNet,
                          dict(depth=50, style='caffe', fuse_se=False)),
}
# The Faster R-CNN rows: FASTER_RCNN with only its backbone's type and SE
# settings changed.
FASTER_RCNN_BACKBONES = {
    BASELINE: dict(type='ResNet', init_cfg=None),
    BASELINE_COPY: dict(type='ResNet', init_cfg=None),
    'se_resnet50': dict(type='SEResNet', init_cfg=None),
    'straightforward_se': dict(type='SEResNet', fuse_se=False, init_cfg=None),
}
# The floors of SE's cost (with_unused_se_work): the excitation alone,
# and the squeeze and the excitation.
SE_FLOORS = {'resnet50_plus_se_fcs': False, 'resnet50_plus_se_gates': True}
# Steps to time, by model name; a timer runs them in rounds (time_rounds).
Steps = Dict[str, Callable[[], None]]
Timer = Callable[[Steps], Dict[str, List[float]]]


def mmpretrain_seresnet50(**kwargs) -> Optional[nn.Module]:
    """mmpretrain's SEResNet-50, or None where mmpretrain is missing."""
    try:
        from mmpretrain.models import SEResNet as MMPretrainSEResNet
    except ImportError:
        print('mmpretrain is not installed: its SEResNet-50 is left out '
              '(pip install -r requirements/tests.txt)')
        return None
    return MMPretrainSEResNet(depth=50, out_indices=(0, 1, 2, 3), **kwargs)


def backbones(**kwargs) -> Dict[str, nn.Module]:
    """The compared backbones, built with the same ResNet arguments."""
    models = {
        name: model_class(depth=50, **arguments, **kwargs)
        for name, (model_class, arguments) in BACKBONES.items()
    }
    mmpretrain = mmpretrain_seresnet50(**kwargs)
    if mmpretrain is not None:
        models['mmpretrain_se_resnet50'] = mmpretrain
    for model in models.values():
        model.init_weights()
    models = {
        BASELINE: models[BASELINE],
        BASELINE_COPY: copy.deepcopy(models[BASELINE]),
        **models
    }
    return models


def with_unused_se_work(model: ResNet, squeeze: bool) -> ResNet:
    """A copy of ``model`` whose bottlenecks each run an SE module's
    excitation (two FCs and the sigmoid: 2.5M weights in all for ResNet-50)
    after their last norm and leave the gate unused, so the outputs stay
    the baseline's. The excitation takes the spatial mean of the norm's
    output (the fused step's squeeze) if ``squeeze``, zeros otherwise.

    Eager inference only: a compiler would drop the unused work.
    """
    floor = copy.deepcopy(model)
    for name in floor.res_layers:
        for block in getattr(floor, name):
            se = SqueezeExcitation(block.conv3.out_channels)
            block.add_module('unused_se', se)
            block.norm3.register_forward_hook(excite_unused(se, squeeze))
    return floor


def excite_unused(se: SqueezeExcitation,
                  squeeze: bool) -> Callable[[nn.Module, tuple, Tensor], None]:
    """A forward hook that runs ``se``'s excitation, of the module's output
    squeezed or of zeros, and returns None, which keeps the output."""

    def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
        if squeeze:
            descriptor = output.mean(dim=(2, 3), keepdim=True)
        else:
            descriptor = output.new_zeros(output.shape[0], se.fc1.in_channels,
                                          1, 1)
        se.excite(descriptor)

    return hook


def time_rounds(steps: Steps, rounds: int,
                min_seconds: float = 0.0) -> Dict[str, List[float]]:
    """Seconds per call of each step, one warm-up then at least ``rounds``
    rounds, more until the baseline's rounds add up to ``min_seconds``;
    each round runs every step once, in turn. A single round (``--quick``)
    only shows that the steps run: it goes without the warm-up."""
    if rounds > 1:
        for step in steps.values():
            step()
    seconds = {name: [] for name in steps}
    while (len(seconds[BASELINE]) < rounds
           or sum(seconds[BASELINE]) < min_seconds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def summarise(seconds: Dict[str, List[float]]) -> Dict[str, dict]:
    base = statistics.median(seconds[BASELINE])
    base_min = min(seconds[BASELINE])
    rows = {}
    for name, values in seconds.items():
        median = statistics.median(values)
        # Noise from a shared machine only ever adds time, so the ratio of
        # minimums estimates the intrinsic cost; both are reported.
        rows[name] = dict(
            rounds=len(values),
            median_ms=round(1000 * median, 1),
            min_ms=round(1000 * min(values), 1),
            time_ratio=round(median / base, 3),
            min_ratio=round(min(values) / base_min, 3))
    return rows


class PeakMemory:
    """Peak resident memory of a step, less the resident memory before it.

    glibc keeps freed heap memory resident, which would hide the next step's
    allocations; a fixed mmap threshold serves every tensor larger than
    64 KiB from its own mapping, returned on free. It must be set before
    the first large tensor is freed, and it makes every large allocation a
    fresh mapping and its page faults (ResNet-50's time at batch 1 doubled,
    weighing on the model that allocates more), so memory is measured in a
    process of its own (:func:`peak_memory_in_child`). The kernel's
    high-water mark is reset through /proc/self/clear_refs before each step.
    """

    def __init__(self) -> None:
        libc = ctypes.CDLL('libc.so.6')
        m_mmap_threshold = -3
        if libc.mallopt(m_mmap_threshold, 64 * 1024) != 1:
            raise RuntimeError('mallopt(M_MMAP_THRESHOLD) failed')

    @staticmethod
    def _status_bytes(key: str) -> int:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    def measure(self, step: Callable[[], None]) -> float:
        gc.collect()
        before = self._status_bytes('VmRSS:')
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')
        step()
        return (self._status_bytes('VmHWM:') - before) / 2**20


def complexity() -> Dict[str, dict]:
    """Parameters and multiply-adds of each backbone at 224x224.

    The SE backbones are analysed in their straightforward form, the same
    arithmetic as the fused step, which the analysis's jit trace cannot see
    into. The official models put the stride on the first 1x1 conv
    (``style='caffe'``), which is what the paper's 3.86 / 3.87 GFLOPs count.
    """
    models = {
        name: model_class(**arguments)
        for name, (model_class, arguments) in COMPLEXITY.items()
    }
    mmpretrain = mmpretrain_seresnet50()
    if mmpretrain is not None:
        models['mmpretrain_se_resnet50'] = mmpretrain
    rows = {}
    for name, model in models.items():
        model.eval()
        info = get_model_complexity_info(
            model, input_shape=(3, 224, 224), show_table=False,
            show_arch=False)
        paper = PAPER.get(name, {})
        rows[name] = dict(
            gflops=round(info['flops'] / 1e9, 3),
            paper_gflops=paper.get('gflops', 'n/a'),
            params_m=round(info['params'] / 1e6, 3),
            paper_params_m=paper.get('params_m', 'n/a'))
    return rows


def layouts(shapes: List[tuple]):
    """``(row name, input, memory format)`` for each shape, NCHW and
    channels_last."""
    for shape in shapes:
        for memory_format in (torch.contiguous_format, torch.channels_last):
            layout = ('channels_last' if memory_format is torch.channels_last
                      else 'nchw')
            x = torch.randn(*shape).to(memory_format=memory_format)
            yield f'{"x".join(map(str, shape))}_{layout}', x, memory_format


def inference(timer: Timer, shapes: List[tuple]) -> Dict[str, dict]:
    models = backbones()
    for name, squeeze in SE_FLOORS.items():
        models[name] = with_unused_se_work(models[BASELINE], squeeze)
    results = {}
    for key, x, memory_format in layouts(shapes):
        steps = {}
        for name, model in models.items():
            model.eval()
            model.to(memory_format=memory_format)
            steps[name] = lambda model=model: model(x)
        with torch.no_grad():
            results[key] = summarise(timer(steps))
    return results


def compiled_inference(timer: Timer, shapes: List[tuple],
                       backend: str) -> Dict[str, dict]:
    """Inference under ``torch.compile``, compiled afresh for each input
    (the warm-up call of :func:`time_rounds` compiles)."""
    models = backbones()
    models = {
        name: models[name]
        for name in (BASELINE, BASELINE_COPY, 'se_resnet50',
                     'straightforward_se')
    }
    results = {}
    for key, x, memory_format in layouts(shapes):
        # All the models run ResNet.forward: without a reset, the variants'
        # compilations would pile up on one code object past dynamo's
        # recompile limit, after which it silently runs eager code.
        torch._dynamo.reset()
        steps = {}
        for name, model in models.items():
            model.eval()
            model.to(memory_format=memory_format)
            compiled = torch.compile(model, backend=backend, dynamic=False)
            steps[name] = lambda compiled=compiled: compiled(x)
        with torch.no_grad():
            results[key] = summarise(timer(steps))
    torch._dynamo.reset()
    return results


def saved_for_backward_mib(step_forward: Callable[[], object],
                           model: nn.Module) -> float:
    """MiB of the distinct tensors, parameters aside, that autograd keeps
    for the backward of ``step_forward()``."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step_forward()
    return sum(storages.values()) / 2**20


def training_steps(shape: tuple, **settings):
    """The backbones with the ResNet ``settings``, in training mode, an
    input of ``shape``, and a forward + backward step per model."""
    models = backbones(**settings)
    x = torch.randn(*shape)
    steps = {}
    for name, model in models.items():
        model.train()

        def step(model=model):
            outs = model(x)
            sum(out.float().mean() for out in outs).backward()
            model.zero_grad(set_to_none=True)

        steps[name] = step
    return models, x, steps


def training_step(timer: Timer, shape: tuple,
                  **settings) -> Dict[str, dict]:
    """Time, bytes saved for backward and peak memory of a training step."""
    models, x, steps = training_steps(shape, **settings)
    # With live BatchNorm each forward moves the running statistics, the
    # same way for every model.
    saved_mib = {
        name: saved_for_backward_mib(lambda model=model: model(x), model)
        for name, model in models.items()
    }
    rows = summarise(timer(steps))
    peak_mib = peak_memory_in_child(shape, settings)
    for name, row in rows.items():
        row['saved_mib'] = round(saved_mib[name], 1)
        row['saved_ratio'] = round(saved_mib[name] / saved_mib[BASELINE], 3)
        row['peak_mib'] = round(peak_mib[name], 1)
        # Tiny --quick inputs may fit in memory already resident.
        row['memory_ratio'] = round(
            peak_mib[name] / peak_mib[BASELINE],
            3) if peak_mib[BASELINE] > 0 else None
    return rows


def peak_memory_in_child(shape: tuple, settings: dict) -> Dict[str, float]:
    """Each training step's peak memory, measured by this script run with
    ``--peak-memory`` in a process of its own (see :class:`PeakMemory`)."""
    spec = json.dumps(dict(shape=shape, settings=settings))
    result = subprocess.run(
        [sys.executable, __file__, '--peak-memory', spec],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f'the peak-memory process failed:\n{result.stderr[-2000:]}')
    return json.loads(result.stdout.splitlines()[-1])


def measure_peak_memory(spec: str) -> None:
    """The ``--peak-memory`` process: builds the training steps of ``spec``
    and prints their peak memory in MiB (median of 3, after a warm-up) as
    one JSON line."""
    peak = PeakMemory()
    spec = json.loads(spec)
    _, _, steps = training_steps(tuple(spec['shape']), **spec['settings'])
    peak_mib = {}
    for name, step in steps.items():
        step()
        peak_mib[name] = statistics.median(
            peak.measure(step) for _ in range(3))
    print(json.dumps(peak_mib))


def faster_rcnn(timer: Timer, image_shape: tuple) -> Dict[str, dict]:
    """Faster R-CNN FPN: a training iteration, and inference on fixed
    proposals (backbone, neck, RPN head, RoI head)."""
    register_all_modules()
    cfg = get_config(FASTER_RCNN)
    packed = demo_mm_inputs(
        batch_size=2, image_shapes=[image_shape] * 2, num_items=[5, 5],
        num_classes=80)
    generator = torch.Generator().manual_seed(0)
    height, width = image_shape[1:]
    corners = torch.rand(1000, 2, generator=generator) * torch.tensor(
        [width * 0.7, height * 0.7])
    sizes = 16 + torch.rand(1000, 2, generator=generator) * 96
    proposals = InstanceData(
        bboxes=torch.cat([corners, corners + sizes], dim=1))

    train_steps, infer_steps = {}, {}
    for name, backbone in FASTER_RCNN_BACKBONES.items():
        torch.manual_seed(0)
        model_cfg = cfg.model.copy()
        model_cfg.backbone = dict(model_cfg.backbone, **backbone)
        model = MODELS.build(model_cfg)
        model.init_weights()
        train_data = model.data_preprocessor(packed, True)
        test_data = model.data_preprocessor(packed, False)

        def train_step(model=model, data=train_data):
            model.train()
            losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
            loss.backward()
            model.zero_grad(set_to_none=True)

        def infer_step(model=model, data=test_data):
            model.eval()
            samples = data['data_samples']
            with torch.no_grad():
                feats = model.extract_feat(data['inputs'])
                model.rpn_head(feats)
                model.roi_head.predict(feats, [proposals] * len(samples),
                                       samples)

        train_steps[name] = train_step
        infer_steps[name] = infer_step
    return dict(
        train_iteration=summarise(timer(train_steps)),
        inference_fixed_proposals=summarise(timer(infer_steps)))


def print_table(title: str, rows: Dict[str, dict]) -> None:
    columns = list(next(iter(rows.values())))
    print(f'\n{title}\n| model | ' + ' | '.join(columns) + ' |')
    print('|---|' + '---|' * len(columns))
    for name, row in rows.items():
        print(f'| {name} | ' + ' | '.join(str(row[c]) for c in columns) + ' |')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--rounds', type=int, default=7, help='rounds per row, at least')
    parser.add_argument(
        '--min-seconds',
        type=float,
        default=5.0,
        help='more rounds until ResNet-50 has run this long in a row')
    parser.add_argument('--out', default='work_dirs/benchmark.json')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='small inputs and one round: checks that it runs, no timing')
    parser.add_argument(
        '--compile-backend',
        default='inductor',
        help='torch.compile backend of the compiled rows (inductor: what '
        'makes PyTorch fast; eager: only checks that they run)')
    parser.add_argument('--peak-memory', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f'--rounds {args.rounds}: give at least 1 round')
    if args.min_seconds < 0:
        parser.error(
            f'--min-seconds {args.min_seconds}: give 0 or more seconds')
    # init_weights() logs every parameter's initialisation at INFO.
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    if args.peak_memory:
        measure_peak_memory(args.peak_memory)
        return
    rounds = 1 if args.quick else args.rounds
    min_seconds = 0.0 if args.quick else args.min_seconds
    timer = functools.partial(
        time_rounds, rounds=rounds, min_seconds=min_seconds)
    scale = 4 if args.quick else 1
    torch.manual_seed(0)
    report = dict(
        machine=dict(
            processor=platform.processor() or platform.machine(),
            threads=torch.get_num_threads(),
            torch=torch.__version__),
        rounds=rounds,
        min_seconds=min_seconds)
    report['complexity'] = complexity()
    print_table('Parameters and multiply-adds at 224x224',
                report['complexity'])
    shapes = [(1, 3, 224 // scale, 224 // scale),
              (8 // scale, 3, 224 // scale, 224 // scale),
              (1, 3, 800 // scale, 1216 // scale)]
    report['inference'] = inference(timer, shapes)
    for key, rows in report['inference'].items():
        print_table(f'Backbone inference {key}', rows)
    # Quick: compiling takes most of the time, one shape shows it runs.
    report['compiled_inference'] = compiled_inference(
        timer, shapes[:1] if args.quick else shapes, args.compile_backend)
    for key, rows in report['compiled_inference'].items():
        print_table(
            f'Backbone inference {key}, torch.compile '
            f'({args.compile_backend})', rows)
    report['faster_rcnn'] = faster_rcnn(timer, (3, 512 // scale, 512 // scale))
    for key, rows in report['faster_rcnn'].items():
        print_table(f'Faster R-CNN FPN {key}', rows)
    report['training_step'] = training_step(
        timer, (2, 3, 512 // scale, 512 // scale), norm_eval=True,
        frozen_stages=1)
    print_table('Backbone training step 2x3x512x512, frozen BatchNorm '
                '(norm_eval=True, frozen_stages=1)', report['training_step'])
    report['training_step_live_bn'] = training_step(
        timer, (2, 3, 256 // scale, 256 // scale), norm_eval=False,
        frozen_stages=-1)
    print_table('Backbone training step 2x3x256x256, live BatchNorm '
                '(norm_eval=False, frozen_stages=-1)',
                report['training_step_live_bn'])

    mkdir_or_exist(osp.dirname(osp.abspath(args.out)))
    with open(args.out, 'w') as out:
        json.dump(report, out, indent=2)
    print(f'\nwritten to {args.out}')


if __name__ == '__main__':
    main()
