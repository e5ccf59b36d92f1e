"""Parameter counts of the SE backbones beside MMDetection's plain ones and
the official models' (SENET_FACTS.md, Sec. 2, counted from the prototxts).

    python tools/analysis/count_params.py

Prints a markdown table. The official counts include the 1000-class FC,
which a detection backbone does not have; the table adds it back to compare.
"""
from functools import partial

from torch import nn

import senet_mmdet  # noqa: F401  (registers the SE modules)
from mmdet.models.backbones import ResNet, ResNeXt
from senet_mmdet.models import SENet154, SEResNet, SEResNeXt

# (name, SE backbone, its plain twin, official count with the FC in millions)
ROWS = [
    ('SE-ResNet-18', partial(SEResNet, depth=18), partial(ResNet, depth=18),
     None),
    ('SE-ResNet-34', partial(SEResNet, depth=34), partial(ResNet, depth=34),
     None),
    ('SE-ResNet-50', partial(SEResNet, depth=50), partial(ResNet, depth=50),
     28.088),
    ('SE-ResNet-101', partial(SEResNet, depth=101),
     partial(ResNet, depth=101), 49.327),
    ('SE-ResNet-152', partial(SEResNet, depth=152),
     partial(ResNet, depth=152), 66.822),
    ('SE-ResNeXt-50 (32x4d)',
     partial(SEResNeXt, depth=50, groups=32, base_width=4),
     partial(ResNeXt, depth=50, groups=32, base_width=4), 27.560),
    ('SE-ResNeXt-101 (32x4d)',
     partial(SEResNeXt, depth=101, groups=32, base_width=4),
     partial(ResNeXt, depth=101, groups=32, base_width=4), 48.955),
    ('SENet-154', SENet154, partial(SENet154, stage_with_se=(False, ) * 4),
     115.089),
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
    for name, build_se, build_plain, official in ROWS:
        plain_backbone = build_plain()
        fc = classifier_params(plain_backbone)
        se = count_params(build_se())
        plain = count_params(plain_backbone)
        official_text = (
            f'{official:.3f}M' if official else 'none released')
        print(f'| {name} | {se / 1e6:.3f}M | {plain / 1e6:.3f}M | '
              f'+{100 * (se - plain) / (plain + fc):.1f} % | '
              f'{(se + fc) / 1e6:.3f}M | {official_text} |')


if __name__ == '__main__':
    main()
