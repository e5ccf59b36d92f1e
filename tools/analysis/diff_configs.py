"""Show what differs between two configs once their bases are resolved.

    python tools/analysis/diff_configs.py \
        configs/senet/faster-rcnn_r50_fpn_1x_coco.py \
        configs/senet/faster-rcnn_se-r50_fpn_1x_coco.py

prints one line per differing key (dotted path), e.g.
``model.backbone.type: 'ResNet' -> 'SEResNet'``; lists such as pipelines
are compared whole.
"""
import argparse
import sys

import senet_mmdet  # noqa: F401  (resolves senet_mmdet:: bases)
from senet_mmdet.apis import config_diff, load_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('first', help='config file')
    parser.add_argument('second', help='config file')
    args = parser.parse_args()
    differences = config_diff(
        load_config(args.first).to_dict(),
        load_config(args.second).to_dict())
    for key, a, b in differences:
        print(f'{key}: {a!r} -> {b!r}')
    if not differences:
        print('the two configs are identical')
    return 0


if __name__ == '__main__':
    sys.exit(main())
