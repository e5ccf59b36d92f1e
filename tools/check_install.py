"""Check that the installed stack imports and its compiled ops run.

Run by `make install` as its last step; prints one line per component and
exits non-zero, naming the component and the fix, at the first failure.

mmcv's compiled ops (nms, roi_align) run on the CPU and, where CUDA is
available, on the GPU too: an mmcv built without its CUDA ops (no nvcc at
build time, or no GPU visible to the build and no FORCE_CUDA=1) imports and
runs on the CPU, and would fail only when a detector first runs on the GPU.
"""
import argparse
import sys

import torch

MMCV_REBUILD = 'python tools/install/mmcv_wheel.py --rebuild'
# mmcv's compiled-in CUDA version when it was built without CUDA ops
# (mmcv/ops/csrc/pytorch/info.cpp).
NO_CUDA_OPS = 'not available'


def run_box_ops(nms, roi_align, device: str) -> None:
    """Run ``nms`` and ``roi_align`` (torchvision's or mmcv's) on ``device``
    and check their results; an op missing or broken there raises."""
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [50., 50., 60., 60.]], device=device)
    scores = torch.tensor([0.9, 0.8, 0.7], device=device)
    keep = nms(boxes, scores, 0.5)
    # mmcv's nms returns (boxes with scores, indices), torchvision's indices.
    keep = keep[1] if isinstance(keep, tuple) else keep
    assert keep.tolist() == [0, 2], f'nms kept {keep.tolist()}, not [0, 2]'
    rois = torch.tensor([[0., 0., 0., 4., 4.]], device=device)
    pooled = roi_align(torch.ones(1, 1, 8, 8, device=device), rois, (2, 2))
    assert pooled.shape == (1, 1, 2, 2) and torch.allclose(
        pooled, torch.ones_like(pooled)), f'roi_align of ones gave {pooled}'


def check_torchvision() -> str:
    try:
        import torchvision
        from torchvision.ops import nms, roi_align
        run_box_ops(nms, roi_align, 'cpu')
    except Exception as error:
        sys.exit(f'error: torchvision with torch {torch.__version__}: its '
                 f'ops fail ({error!r}). Install the matching pair: pip '
                 'install -r requirements/torch.txt')
    return (f'torch {torch.__version__}, torchvision {torchvision.__version__}'
            ': nms and roi_align run')


def check_mmcv() -> str:
    try:
        import mmcv
        import mmcv.ops
        run_box_ops(mmcv.ops.nms, mmcv.ops.roi_align, 'cpu')
    except Exception as error:
        sys.exit(f'error: mmcv: its compiled ops fail ({error!r}). Rebuild '
                 f'it against the installed torch: {MMCV_REBUILD}')
    built_with = mmcv.ops.get_compiling_cuda_version()
    if not torch.cuda.is_available():
        ops = ('without CUDA ops' if built_with == NO_CUDA_OPS else
               f'with CUDA {built_with} ops')
        return (f'mmcv {mmcv.__version__}: compiled ops run on the CPU '
                f'(built {ops}; no GPU here to run them on)')
    cuda = torch.version.cuda
    rebuild = (f'Rebuild it with nvcc of CUDA {cuda} (torch\'s) on the PATH '
               'and a host compiler that nvcc accepts, with FORCE_CUDA=1 '
               f'where the build sees no GPU: FORCE_CUDA=1 {MMCV_REBUILD}')
    if built_with == NO_CUDA_OPS:
        sys.exit(f'error: mmcv {mmcv.__version__} was built without CUDA '
                 f'ops, but CUDA {cuda} is available: detectors would fail '
                 f'on the GPU. {rebuild}')
    try:
        run_box_ops(mmcv.ops.nms, mmcv.ops.roi_align, 'cuda')
    except Exception as error:
        sys.exit(f'error: mmcv {mmcv.__version__}: its compiled ops run on '
                 f'the CPU but fail on the GPU ({error!r}); mmcv was built '
                 f'with CUDA {built_with}, torch uses CUDA {cuda}. {rebuild}')
    return (f'mmcv {mmcv.__version__}: compiled ops run on the CPU and on '
            f'{torch.cuda.get_device_name()} (built with CUDA {built_with})')


def check_registry() -> str:
    import mmdet
    import mmengine

    import senet_mmdet
    from mmdet.registry import MODELS
    missing = [
        name for name in ('SEResNet', 'SEResNeXt', 'SENet154',
                          'SqueezeExcitation')
        if name not in MODELS.module_dict
    ]
    if missing:
        sys.exit(f'error: senet_mmdet {senet_mmdet.__version__}: {missing} '
                 'are not registered in mmdet.registry.MODELS')
    return (f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, '
            f'senet_mmdet {senet_mmdet.__version__}: SE modules registered')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.parse_args()
    for check in (check_torchvision, check_mmcv, check_registry):
        print(check())


if __name__ == '__main__':
    main()
