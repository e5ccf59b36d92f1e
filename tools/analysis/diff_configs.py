"""Show what differs between two configs once their bases are resolved.

    python tools/analysis/diff_configs.py \
        configs/senet/faster-rcnn_r50_fpn_1x_coco.py \
        configs/senet/faster-rcnn_se-r50_fpn_1x_coco.py

prints one line per differing key (dotted path), e.g.
``model.backbone.type: 'ResNet' -> 'SEResNet'``; lists such as pipelines
are compared whole. With ``--se-twin`` it checks that the second config
is a fair speed twin of the first: it exits 1, naming the keys, if they
differ in anything but SE (the backbone class within its family, the SE
settings, the weights; ``senet_mmdet.apis.config_diff.beyond_se``).
"""
import argparse
import sys

import senet_mmdet  # noqa: F401  (resolves senet_mmdet:: bases)
from senet_mmdet.apis import config_diff, load_config
from senet_mmdet.apis.config_diff import beyond_se


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('first', help='config file')
    parser.add_argument('second', help='config file')
    parser.add_argument(
        '--se-twin', action='store_true',
        help='exit 1 unless the configs differ in SE only (plain first)')
    args = parser.parse_args()
    first = load_config(args.first).to_dict()
    second = load_config(args.second).to_dict()
    differences = config_diff(first, second)
    for key, a, b in differences:
        print(f'{key}: {a!r} -> {b!r}')
    if not differences:
        print('the two configs are identical')
    if args.se_twin:
        others = beyond_se(first, second)
        if others:
            print('error: not SE twins; they also differ in '
                  f'{", ".join(key for key, _, _ in others)}',
                  file=sys.stderr)
            return 1
        print('SE twins: they differ in SE only')
    return 0


if __name__ == '__main__':
    sys.exit(main())
