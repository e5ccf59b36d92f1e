from .checkpoint import trust_checkpoints
from .hooks import *  # noqa: F401,F403

__all__ = ['trust_checkpoints']
