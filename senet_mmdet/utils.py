"""Argument checks whose errors name the argument, the value and the fix."""
from typing import Any, Collection


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
