"""What differs between two configs, key by key."""
from typing import Any, Dict, List, Tuple

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


# What an SE model may differ in from the plain twin it is timed against:
# the backbone class (plain to SE of the same family), the SE modules'
# settings, the weights (speed figures use random ones) and the import that
# registers the SE classes. Anything else (style, stem pool, norm, input
# size, preprocessing, heads) would be measured as SE's cost.
SE_TWIN_TYPES = {('ResNet', 'SEResNet'), ('ResNeXt', 'SEResNeXt'),
                 ('SEResNet', 'SEResNet'), ('SEResNeXt', 'SEResNeXt')}
SE_ONLY_KEYS = ('model.backbone.se_', 'model.backbone.stage_with_se',
                'model.backbone.fuse_se', 'model.backbone.init_cfg',
                'custom_imports')


def beyond_se(plain: dict, se: dict) -> List[Tuple[str, Any, Any]]:
    """The differences of :func:`config_diff` between a plain config and
    an SE config that are not SE's: empty for a fair speed twin."""
    others = []
    for key, a, b in config_diff(plain, se):
        if key == 'model.backbone.type' and (a, b) in SE_TWIN_TYPES:
            continue
        if not key.startswith(SE_ONLY_KEYS):
            others.append((key, a, b))
    return others
