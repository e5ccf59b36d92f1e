"""Parameter counts of the SE backbones beside MMDetection's plain ones and
the official models' (SENET_FACTS.md, Sec. 2, counted from the prototxts).

    python tools/analysis/count_params.py

Prints a markdown table. The official counts include the 1000-class FC,
which a detection backbone does not have; the table adds it back to compare.
"""
from torch import nn

import senet_mmdet  # noqa: F401  (registers the SE modules)
from mmdet.models.backbones import ResNet, ResNeXt
from senet_mmdet.models import SEResNet, SEResNeXt

# (name, backbone arguments, official count with the FC in millions)
ROWS = [
    ('SE-ResNet-18', dict(depth=18), None),
    ('SE-ResNet-34', dict(depth=34), None),
    ('SE-ResNet-50', dict(depth=50), 28.088),
    ('SE-ResNet-101', dict(depth=101), 49.327),
    ('SE-ResNet-152', dict(depth=152), 66.822),
    ('SE-ResNeXt-50 (32x4d)', dict(depth=50, groups=32, base_width=4),
     27.560),
    ('SE-ResNeXt-101 (32x4d)', dict(depth=101, groups=32, base_width=4),
     48.955),
]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def classifier_params(backbone: ResNet) -> int:
    """The 1000-class FC on the backbone's last feature."""
    return backbone.feat_dim * 1000 + 1000


def main() -> None:
    print('| backbone | params (no FC) | plain backbone | SE adds | '
          'with the 1000-class FC | official, with FC |')
    print('|---|---|---|---|---|---|')
    for name, kwargs, official in ROWS:
        se_type, plain_type = (SEResNeXt, ResNeXt) if 'groups' in kwargs else (
            SEResNet, ResNet)
        se = se_type(**kwargs)
        plain = plain_type(**kwargs)
        fc = classifier_params(plain)
        added = count_params(se) - count_params(plain)
        official_text = (
            f'{official:.3f}M' if official else 'none released')
        print(f'| {name} | {count_params(se) / 1e6:.3f}M | '
              f'{count_params(plain) / 1e6:.3f}M | '
              f'+{100 * added / (count_params(plain) + fc):.1f} % | '
              f'{(count_params(se) + fc) / 1e6:.3f}M | {official_text} |')


if __name__ == '__main__':
    main()
