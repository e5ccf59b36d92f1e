"""Export a detector's feature extractor (backbone + neck) to ONNX and check
it in onnxruntime against PyTorch.

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT]
        [--out FILE.onnx] [--image IMG | --shape H W] [--exporter
        {dynamo,legacy}] [--dynamic] [--atol A] [--rtol R] [--repeat N]

What is exported: ``model.extract_feat`` on a preprocessed image (the data
preprocessor's normalisation and padding stay in Python), one ONNX output
per feature level. The heads are not exported: on this stack (torch 2.13)
mmdeploy 1.3.1 fails for every model, and the heads' proposal and
detection steps call mmcv's NMS, which neither torch exporter converts.
The tool prints, per level, the largest absolute difference between
onnxruntime and PyTorch, fails (rc 1) when one exceeds ``atol + rtol *
max|PyTorch|``, and prints the median latency of both on this CPU; with
``--out`` the JSON report goes beside the ONNX file. With ``--dynamic``
the model is also checked at batch 2 and 32 pixels less in each side.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Tuple

import mmcv
import numpy as np
import onnxruntime
import torch
from torch import Tensor, nn

import senet_mmdet  # noqa: F401  (registers the SE modules)
from mmdet.apis import init_detector
from senet_mmdet.apis.deployment import (add_timing_and_loading_arguments,
                                         check_arguments, median_seconds)
from senet_mmdet.engine import allow_unsafe_load


class FeatureExtractor(nn.Module):
    """A detector's backbone and neck as one module: image tensor in,
    feature levels out."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        return tuple(self.detector.extract_feat(inputs))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument(
        'checkpoint', nargs='?',
        help='trained weights (.pth); without them the weights are random')
    parser.add_argument('--out', default='work_dirs/deploy/features.onnx')
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--image', help='an image to preprocess and export '
                        'with (default: random pixels of --shape)')
    source.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        default=(800, 1216))
    parser.add_argument('--exporter', choices=('dynamo', 'legacy'),
                        default='dynamo', help="torch.onnx.export's "
                        'torch.export-based exporter or the TorchScript one')
    parser.add_argument('--dynamic', action='store_true',
                        help='batch, height and width as dynamic axes')
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--rtol', type=float, default=1e-4)
    add_timing_and_loading_arguments(parser)
    args = parser.parse_args()
    check_arguments(parser, args, ('config', 'checkpoint', 'image'))
    return args


def preprocessed_input(detector: nn.Module, args) -> Tensor:
    """The tensor the feature extractor sees: the data preprocessor's
    normalised (and padded) image, batch 1."""
    if args.image:
        image = torch.from_numpy(mmcv.imread(args.image)).permute(2, 0, 1)
    else:
        generator = torch.Generator().manual_seed(0)
        image = torch.randint(0, 256, (3, *args.shape), dtype=torch.uint8,
                              generator=generator)
    batch = detector.data_preprocessor(dict(inputs=[image]), training=False)
    return batch['inputs']


def export(module: nn.Module, inputs: Tensor, out: str, exporter: str,
           dynamic: bool, num_outputs: int) -> None:
    names = [f'level_{i}' for i in range(num_outputs)]
    kwargs = dict(input_names=['inputs'], output_names=names)
    if exporter == 'dynamo':
        if dynamic:
            axes = dict(zip((0, 2, 3), ('batch', 'height', 'width')))
            kwargs['dynamic_shapes'] = {
                'inputs': {
                    dim: torch.export.Dim.DYNAMIC
                    for dim in axes
                }
            }
        torch.onnx.export(module, (inputs, ), out, dynamo=True, **kwargs)
    else:
        if dynamic:
            kwargs['dynamic_axes'] = {
                name: {
                    0: 'batch',
                    2: 'height',
                    3: 'width'
                }
                for name in ['inputs', *names]
            }
        torch.onnx.export(
            module, (inputs, ), out, dynamo=False, opset_version=17,
            **kwargs)


def compare(got: List[np.ndarray], expected: List[Tensor], args) -> list:
    """Per feature level: shape, largest absolute difference, its bound,
    and whether it is within."""
    levels = []
    for index, (ours, theirs) in enumerate(zip(got, expected)):
        reference = theirs.numpy()
        difference = float(np.abs(ours - reference).max())
        bound = args.atol + args.rtol * float(np.abs(reference).max())
        levels.append(
            dict(level=index, shape=list(reference.shape),
                 max_abs_diff=difference, bound=bound,
                 ok=bool(ours.shape == reference.shape
                         and difference <= bound)))
    return levels


def main() -> int:
    args = parse_args()
    if args.unsafe_load:
        allow_unsafe_load()
    detector = init_detector(args.config, args.checkpoint, device='cpu')
    module = FeatureExtractor(detector).eval()
    inputs = preprocessed_input(detector, args)
    with torch.no_grad():
        expected: List[Tensor] = list(module(inputs))
    out = osp.abspath(args.out)
    os.makedirs(osp.dirname(out), exist_ok=True)
    export(module, inputs, out, args.exporter, args.dynamic, len(expected))
    session = onnxruntime.InferenceSession(
        out, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    feed = {name: inputs.numpy()}
    levels = compare(session.run(None, feed), expected, args)
    if args.dynamic:
        # Another batch size and image size than the export's.
        other = torch.cat([inputs, inputs.flip(-1)])[..., :-32, :-32]
        with torch.no_grad():
            other_expected = list(module(other))
        levels += compare(
            session.run(None, {name: other.contiguous().numpy()}),
            other_expected, args)
    with torch.no_grad():
        torch_seconds = median_seconds(lambda: module(inputs), args.repeat)
    ort_seconds = median_seconds(lambda: session.run(None, feed), args.repeat)
    report = dict(
        config=args.config, checkpoint=args.checkpoint, onnx=out,
        exporter=args.exporter, dynamic=args.dynamic,
        input_shape=list(inputs.shape), levels=levels,
        torch_seconds=torch_seconds, onnxruntime_seconds=ort_seconds,
        torch_threads=torch.get_num_threads())
    with open(osp.splitext(out)[0] + '.json', 'w') as file:
        json.dump(report, file, indent=2)
    print(f'{out}: {args.exporter} exporter, input {list(inputs.shape)}')
    print('| level | shape | max abs diff (ORT - PyTorch) | bound | ok |')
    print('|---|---|---|---|---|')
    for level in levels:
        print(f'| {level["level"]} | {level["shape"]} | '
              f'{level["max_abs_diff"]:.3g} | {level["bound"]:.3g} | '
              f'{"yes" if level["ok"] else "NO"} |')
    print(f'latency (median of {args.repeat}): PyTorch '
          f'{torch_seconds * 1000:.1f} ms, onnxruntime '
          f'{ort_seconds * 1000:.1f} ms '
          f'({ort_seconds / torch_seconds:.2f}x)')
    if not all(level['ok'] for level in levels):
        print('error: onnxruntime differs from PyTorch beyond the bound',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
