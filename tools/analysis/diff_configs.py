"""Show what differs between two configs once their bases are resolved.

    python tools/analysis/diff_configs.py configs/senet/faster-rcnn_r50_fpn_1x_coco.py \
        configs/senet/faster-rcnn_se-r50_fpn_1x_coco.py

prints one line per differing key (dotted path), e.g.
``model.backbone.type: 'ResNet' -> 'SEResNet'``; lists such as pipelines
are compared whole.
"""
import argparse
import sys
from typing import Any, Dict, List, Tuple

import senet_mmdet  # noqa: F401  (resolves senet_mmdet:: bases)
from senet_mmdet.apis import load_config

ABSENT = '<absent>'


def flatten(value: Any, prefix: str = '') -> Dict[str, Any]:
    """``{'a.b': leaf}`` for every non-dict leaf of nested dicts."""
    if not isinstance(value, dict):
        return {prefix: value}
    leaves: Dict[str, Any] = {}
    for key, inner in value.items():
        leaves.update(flatten(inner, f'{prefix}.{key}' if prefix else key))
    return leaves


def config_diff(first: dict, second: dict) -> List[Tuple[str, Any, Any]]:
    """``(key, first value, second value)`` for each key that differs,
    sorted by key; a key missing on one side has the value ``ABSENT``."""
    a, b = flatten(first), flatten(second)
    return [(key, a.get(key, ABSENT), b.get(key, ABSENT))
            for key in sorted(a.keys() | b.keys())
            if a.get(key, ABSENT) != b.get(key, ABSENT)]


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
