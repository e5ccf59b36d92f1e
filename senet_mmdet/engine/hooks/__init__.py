from .atomic_checkpoint_hook import (RESUMABLE_EXIT_CODE,
                                     AtomicCheckpointHook,
                                     CheckpointSaveError, TrainingInterrupted)
from .dump_metrics_hook import DumpMetricsHook
from .epoch_seed_hook import EpochSeedHook, epoch_seed
from .stop_on_nonfinite_hook import NonFiniteTrainingError, StopOnNonFiniteHook

__all__ = [
    'RESUMABLE_EXIT_CODE', 'AtomicCheckpointHook', 'CheckpointSaveError',
    'TrainingInterrupted', 'DumpMetricsHook', 'EpochSeedHook', 'epoch_seed',
    'NonFiniteTrainingError', 'StopOnNonFiniteHook'
]
