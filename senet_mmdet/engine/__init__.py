from .checkpoint import (UNSAFE_LOAD_FLAG, CheckpointError, allow_unsafe_load,
                         checkpoint_problems, from_weights_only,
                         load_weights_only, to_weights_only)
from .hooks import *  # noqa: F401,F403
from .loops import ResumableEpochBasedTrainLoop
from .runner import SafeRunner, end_process_group, safe_config
from .stop_guard import RESUMABLE_EXIT_CODE, TrainingInterrupted

__all__ = [
    'UNSAFE_LOAD_FLAG', 'CheckpointError', 'allow_unsafe_load',
    'checkpoint_problems', 'from_weights_only', 'load_weights_only',
    'to_weights_only', 'ResumableEpochBasedTrainLoop', 'SafeRunner',
    'end_process_group', 'safe_config', 'RESUMABLE_EXIT_CODE',
    'TrainingInterrupted'
]
