"""Check that the installed stack imports and its compiled ops run.

Run by `make install` as its last step; prints one line per component and
exits non-zero, naming the component and the fix, at the first failure.
"""
import sys

import torch


def main() -> None:
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [50., 50., 60., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    try:
        import torchvision
        from torchvision.ops import nms, roi_align
        assert nms(boxes, scores, 0.5).tolist() == [0, 2]
        rois = torch.tensor([[0., 0., 0., 4., 4.]])
        assert roi_align(torch.ones(1, 1, 8, 8), rois, 2).shape == (1, 1, 2,
                                                                    2)
    except Exception as error:
        sys.exit(f'torchvision {getattr(torchvision, "__version__", "?")} '
                 f'with torch {torch.__version__}: its ops fail ({error!r}). '
                 'Install the matching pair: pip install -r '
                 'requirements/torch.txt')
    print(f'torch {torch.__version__}, torchvision {torchvision.__version__}:'
          ' nms and roi_align run')

    try:
        import mmcv
        from mmcv.ops import nms as mmcv_nms
        _, keep = mmcv_nms(boxes, scores, 0.5)
        assert keep.tolist() == [0, 2]
    except Exception as error:
        sys.exit(f'mmcv: its compiled ops fail ({error!r}). Rebuild it '
                 'against the installed torch: pip install --no-build-'
                 'isolation --no-cache-dir --force-reinstall -r '
                 'requirements/mmcv.txt')
    print(f'mmcv {mmcv.__version__}: compiled ops run')

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
        sys.exit(f'senet_mmdet {senet_mmdet.__version__}: {missing} are not '
                 'registered in mmdet.registry.MODELS')
    print(f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, '
          f'senet_mmdet {senet_mmdet.__version__}: SE modules registered')


if __name__ == '__main__':
    main()
