from .atomic_checkpoint_hook import AtomicCheckpointHook, CheckpointSaveError
from .check_data_hook import TRAINING_LOADERS, CheckDataHook
from .dump_metrics_hook import DumpMetricsHook
from .epoch_seed_hook import EpochSeedHook
from .stop_on_nonfinite_hook import NonFiniteTrainingError, StopOnNonFiniteHook

__all__ = [
    'AtomicCheckpointHook', 'CheckpointSaveError', 'TRAINING_LOADERS',
    'CheckDataHook', 'DumpMetricsHook', 'EpochSeedHook',
    'NonFiniteTrainingError', 'StopOnNonFiniteHook'
]
