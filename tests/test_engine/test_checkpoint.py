import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

from senet_mmdet.engine import trust_checkpoints


def save_training_checkpoint(path):
    """What mmengine's Runner saves: weights plus the message hub's
    history, whose HistoryBuffer pickles need more than weights_only."""
    buffer = HistoryBuffer()
    buffer.update(1.0)
    torch.save(
        dict(state_dict=dict(weight=torch.ones(2)),
             message_hub=dict(log_scalars=dict(loss=buffer))), path)


def test_untrusted_training_checkpoint_stays_weights_only(tmp_path):
    path = tmp_path / 'elsewhere' / 'epoch_1.pth'
    path.parent.mkdir()
    save_training_checkpoint(path)
    trust_checkpoints([str(tmp_path / 'work_dir')])
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        CheckpointLoader.load_checkpoint(str(path))


def test_trusted_file_and_folder_load_in_full(tmp_path):
    named = tmp_path / 'named.pth'
    in_work_dir = tmp_path / 'work' / 'sub' / 'epoch_2.pth'
    in_work_dir.parent.mkdir(parents=True)
    for path in (named, in_work_dir):
        save_training_checkpoint(path)
    trust_checkpoints([str(named), str(tmp_path / 'work'), None])
    for path in (named, in_work_dir):
        checkpoint = CheckpointLoader.load_checkpoint(str(path))
        assert checkpoint['state_dict']['weight'].tolist() == [1.0, 1.0]
        buffer = checkpoint['message_hub']['log_scalars']['loss']
        assert buffer.current() == 1.0


def test_a_folder_does_not_trust_its_namesake_prefix(tmp_path):
    path = tmp_path / 'work_old' / 'epoch_1.pth'
    path.parent.mkdir()
    save_training_checkpoint(path)
    trust_checkpoints([str(tmp_path / 'work')])
    with pytest.raises(pickle.UnpicklingError):
        CheckpointLoader.load_checkpoint(str(path))


def test_plain_state_dicts_load_as_before(tmp_path):
    path = tmp_path / 'weights.pth'
    torch.save(dict(weight=torch.zeros(3)), path)
    trust_checkpoints([])
    assert CheckpointLoader.load_checkpoint(str(path))['weight'].shape == (3, )
