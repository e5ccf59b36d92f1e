"""Argument checks whose errors name the argument, the value and the fix;
the listing that such errors share."""
from typing import Any, Collection, Sequence


def check_choice(owner: str, name: str, value: Any,
                 choices: Collection) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    # A tuple tests membership with ``==``, so unhashable values (a list
    # passed by mistake) reach the message instead of raising TypeError.
    if value not in tuple(choices):
        raise ValueError(f'{owner}: {name}={value!r} is not supported; '
                         f'choose one of {tuple(choices)}')


def check_se_ratio(owner: str, name: str, value: Any) -> None:
    """Raise ``ValueError`` unless the reduction ratio is an integer >= 1."""
    # bool is a subclass of int, but True/False as a ratio is always a typo.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{owner}: {name}={value!r} must be a positive '
                         'integer (the SE paper uses 16)')


def listing(items: Sequence[str], limit: int, separator: str = ', ') -> str:
    """The first ``limit`` of ``items`` joined by ``separator``, then how
    many were left out: ``listing(['a', 'b', 'c'], 2)`` is
    ``'a, b, and 1 more'``. For messages that name every kind of problem
    without a screenful of each."""
    shown = list(items[:limit])
    left_out = len(items) - limit
    if left_out > 0:
        shown.append(f'and {left_out} more')
    return separator.join(shown)
