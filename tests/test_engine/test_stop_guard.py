"""StopGuard: a signal's stop says where and how to resume, and a restart
in place after it stops again."""
import pytest

from senet_mmdet.engine import TrainingInterrupted
from senet_mmdet.engine.stop_guard import StopGuard


def test_a_restart_in_place_after_a_signal_stops_again(tmp_path,
                                                       monkeypatch):
    """torchrun restarts workers that stopped with status 75; they stop
    again before training. A new job (restart count 0, or no torchrun)
    trains, and forgets the stop."""
    guard = StopGuard(('SIGTERM', ))
    checkpoint = f'{tmp_path}/epoch_2_iter_3.pth'
    # Not in the test process: a stopped run ignores its signals.
    monkeypatch.setattr(guard.requests, 'ignore', lambda: None)
    with pytest.raises(TrainingInterrupted) as stopped:
        guard.stop(str(tmp_path), 'SIGTERM',
                   'iteration 3 (epoch 2, batch 1)', checkpoint)
    assert str(stopped.value) == (
        'SIGTERM received: training stopped after iteration 3 (epoch 2, '
        f'batch 1); {checkpoint} holds everything up to there (named in '
        f'{tmp_path}/last_checkpoint); resume by running the same training '
        'command with --resume (the same config, work dir, launcher and '
        'processes)')
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '1')
    with pytest.raises(TrainingInterrupted) as stopped:
        guard.refuse_a_restart(str(tmp_path))
    assert str(stopped.value) == (
        'SIGTERM stopped this job after iteration 3 (epoch 2, batch 1) and '
        'the launcher restarted it in place (restart 1): not training '
        'again, since a signal asks the job to stop. Start a new job with '
        f'--resume to go on from {checkpoint}')
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '0')
    guard.refuse_a_restart(str(tmp_path))
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '1')
    guard.refuse_a_restart(str(tmp_path))
