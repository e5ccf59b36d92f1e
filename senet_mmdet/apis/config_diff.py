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
