import pickle
from collections import Counter, OrderedDict
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import CheckpointLoader

from senet_mmdet.engine import (CheckpointError, NonFiniteTrainingError,
                                StopOnNonFiniteHook, checkpoint_problems,
                                from_weights_only, load_weights_only,
                                to_weights_only)
from senet_mmdet.engine import checkpoint as checkpoint_module
from senet_mmdet.engine.checkpoint import (PARTIAL_SUFFIX, commit_checkpoint,
                                           write_text_atomically)
from .utils import (save_checkpoint_with_other_objects,
                    save_code_running_checkpoint, train_with_stock_mmengine)


def training_checkpoint() -> dict:
    """The parts of an mmengine training checkpoint that weights-only
    loading refuses, next to the ones it takes."""
    buffer = HistoryBuffer(max_length=3)
    for value in (0.5, 1.5, 2.5, 3.5):
        buffer.update(value)
    return dict(
        meta=dict(epoch=1, seed=np.int64(7), dataset_meta=dict(
            classes=('a', 'b'), palette=[(1, 2, 3)])),
        state_dict=OrderedDict(weight=torch.arange(3.)),
        message_hub=dict(
            log_scalars=OrderedDict(loss=buffer),
            runtime_info=OrderedDict(keep_ckpt_ids=[1], scale=np.float32(2)),
            resumed_keys=OrderedDict(loss=True)),
        param_schedulers=[dict(milestones=Counter({8: 1, 11: 1}), gamma=0.1)])


def test_training_checkpoint_round_trips_through_weights_only(tmp_path):
    checkpoint = training_checkpoint()
    to_weights_only(checkpoint)
    torch.save(checkpoint, tmp_path / 'epoch_1.pth')
    loaded = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    assert loaded['meta']['seed'] == 7
    from_weights_only(loaded)
    buffer = loaded['message_hub']['log_scalars']['loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.data[0].tolist() == [1.5, 2.5, 3.5]
    assert buffer.max_length == 3
    assert loaded['param_schedulers'][0]['milestones'] == Counter({8: 1,
                                                                   11: 1})
    assert loaded['meta']['dataset_meta']['classes'] == ('a', 'b')
    hub = MessageHub('resumed')
    hub.load_state_dict(loaded['message_hub'])
    assert hub.get_scalar('loss').mean() == 2.5


def test_code_in_a_checkpoint_never_runs(tmp_path, allow_list):
    path = tmp_path / 'tampered.pth'
    save_code_running_checkpoint(path, tmp_path / 'code_ran')
    with pytest.raises(CheckpointError) as info:
        CheckpointLoader.load_checkpoint(str(path))
    assert not (tmp_path / 'code_ran').exists()
    assert '--unsafe-load' in str(info.value)
    assert str(path) in str(info.value)


@pytest.fixture(params=['torch allow-list', 'own unpickler'])
def allow_list(request, monkeypatch):
    """Each way of applying the allow-list: torch's own (torch >= 2.6) and
    the restricted unpickler of older torch, which runs here too."""
    if request.param == 'torch allow-list':
        if not checkpoint_module._NAMED_SAFE_GLOBALS:
            pytest.skip('torch < 2.6 has no allow-list by name')
    else:
        monkeypatch.setattr(checkpoint_module, '_NAMED_SAFE_GLOBALS', False)
    return request.param


def test_checkpoints_of_stock_mmengine_load_weights_only(tmp_path,
                                                         allow_list):
    """MMDetection's own tools, with senet_mmdet imported (custom_imports),
    load what mmengine's own CheckpointHook wrote: no flag, no full
    unpickling."""
    path = train_with_stock_mmengine(tmp_path / 'stock')
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    loaded = CheckpointLoader.load_checkpoint(path)
    hub = MessageHub('stock_resumed')
    hub.load_state_dict(loaded['message_hub'])
    assert hub.get_scalar('train/loss').current() > 0
    assert isinstance(loaded['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)
    assert loaded['param_schedulers'][0]['milestones'] == Counter({1: 1})
    assert set(loaded['state_dict']) == {'linear.weight', 'linear.bias'}


def test_an_mmengine_style_checkpoint_loads_as_saved(tmp_path, allow_list):
    path = tmp_path / 'raw.pth'
    torch.save(training_checkpoint(), path)
    loaded = load_weights_only(str(path))
    assert loaded['message_hub']['log_scalars']['loss'].mean() == 2.5
    assert loaded['meta']['seed'] == 7
    assert loaded['message_hub']['runtime_info']['scale'] == np.float32(2)
    assert loaded['param_schedulers'][0]['milestones'] == Counter({8: 1,
                                                                   11: 1})


class GetattrPickle:
    """Unpickling this calls ``getattr(owner, name)``."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


@pytest.mark.parametrize('owner,name', [(OrderedDict, 'fromkeys'),
                                        (HistoryBuffer, '__init__'),
                                        (HistoryBuffer, 'max_length')])
def test_getattr_reaches_history_buffer_methods_only(tmp_path, owner, name,
                                                     allow_list):
    path = tmp_path / 'getattr.pth'
    torch.save(dict(meta=dict(found=GetattrPickle(owner, name))), path)
    with pytest.raises(CheckpointError, match='getattr'):
        load_weights_only(str(path))
    torch.save(dict(meta=dict(found=GetattrPickle(HistoryBuffer, 'mean'))),
               path)
    assert load_weights_only(str(path))['meta']['found'] is HistoryBuffer.mean


def test_unsafe_load_is_an_explicit_opt_in(tmp_path, monkeypatch,
                                           allow_list):
    path = tmp_path / 'other_objects.pth'
    save_checkpoint_with_other_objects(path)
    with pytest.raises(CheckpointError) as info:
        load_weights_only(str(path))
    assert '--unsafe-load' in str(info.value)
    assert 'SENET_MMDET_UNSAFE_LOAD=1' in str(info.value)
    monkeypatch.setenv('SENET_MMDET_UNSAFE_LOAD', '1')
    assert CheckpointLoader.load_checkpoint(str(path))['meta']['ratio'] == (
        Fraction(1, 3))
    monkeypatch.delenv('SENET_MMDET_UNSAFE_LOAD')
    monkeypatch.setattr(checkpoint_module, '_unsafe_load_allowed', True)
    assert CheckpointLoader.load_checkpoint(str(path))['meta']['ratio'] == (
        Fraction(1, 3))


def test_fragment_is_named_as_incomplete(tmp_path):
    whole = tmp_path / 'whole.pth'
    torch.save(dict(weight=torch.zeros(1000)), whole)
    fragment = tmp_path / 'fragment.pth'
    fragment.write_bytes(whole.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match='not a complete checkpoint'):
        CheckpointLoader.load_checkpoint(str(fragment))


def test_plain_state_dicts_load_as_before(tmp_path):
    path = tmp_path / 'weights.pth'
    torch.save(dict(weight=torch.zeros(3)), path)
    assert CheckpointLoader.load_checkpoint(str(path))['weight'].shape == (3, )


def test_commit_keeps_the_old_file_when_the_new_one_is_broken(tmp_path):
    final = tmp_path / 'epoch_1.pth'
    torch.save(dict(weight=torch.zeros(1000)), final)
    partial = tmp_path / ('epoch_1.pth' + PARTIAL_SUFFIX)
    partial.write_bytes(final.read_bytes()[:1500])
    with pytest.raises(CheckpointError):
        commit_checkpoint(str(partial), str(final))
    assert load_weights_only(str(final))['weight'].shape == (1000, )
    torch.save(dict(weight=torch.ones(2)), partial)
    commit_checkpoint(str(partial), str(final))
    assert not partial.exists()
    assert load_weights_only(str(final))['weight'].tolist() == [1.0, 1.0]


def test_write_text_atomically_replaces_the_content(tmp_path):
    path = tmp_path / 'last_checkpoint'
    path.write_text('work/epoch_1.pth')
    write_text_atomically(str(path), 'work/epoch_2.pth')
    assert path.read_text() == 'work/epoch_2.pth'
    assert [p.name for p in tmp_path.iterdir()] == ['last_checkpoint']


def test_checkpoint_problems_name_each_kind():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    state = {f'module.{k}': v.clone() for k, v in model.state_dict().items()}
    assert checkpoint_problems(model, dict(state_dict=state)) == dict(
        fit=None, finite=None)
    del state['module.1.bias']
    state['module.extra'] = torch.zeros(1)
    state['module.0.weight'] = torch.zeros(3, 5)
    state['module.0.bias'][1] = float('nan')
    problems = checkpoint_problems(model, dict(state_dict=state))
    assert problems['fit'] == (
        "1 of the model's tensors are missing (1.bias); 1 tensors have no "
        'place in the model (extra); 1 tensors have another shape, '
        'checkpoint vs model (0.weight (3, 5) vs (3, 2))')
    assert problems['finite'] == '1 tensors hold NaN or infinity (0.bias)'


def fake_runner(model, last_ckpt='work/epoch_1.pth'):
    hub = MessageHub('nonfinite')
    hub.update_info('last_ckpt', last_ckpt)
    return SimpleNamespace(iter=5, epoch=1, model=model, message_hub=hub)


def test_nonfinite_loss_stops_naming_iteration_and_terms():
    runner = fake_runner(torch.nn.Linear(2, 2))
    outputs = dict(loss=torch.tensor(float('nan')),
                   loss_cls=torch.tensor(0.3),
                   loss_bbox=torch.tensor(float('inf')))
    with pytest.raises(NonFiniteTrainingError) as info:
        StopOnNonFiniteHook().after_train_iter(runner, 1, outputs=outputs)
    message = str(info.value)
    assert message.startswith('training stopped at iteration 6 (epoch 2, '
                              'batch 2): non-finite loss (loss=nan, '
                              'loss_bbox=inf)')
    assert 'work/epoch_1.pth, is from before it and was kept' in message


def test_nonfinite_parameter_stops_even_with_a_finite_loss():
    model = torch.nn.Linear(2, 2)
    runner = fake_runner(model, last_ckpt=None)
    outputs = dict(loss=torch.tensor(0.5))
    hook = StopOnNonFiniteHook()
    hook.after_train_iter(runner, 0, outputs=outputs)
    with torch.no_grad():
        model.bias[0] = float('inf')
    with pytest.raises(NonFiniteTrainingError,
                       match=r'made 1 parameter tensors non-finite .*, '
                       r'e\.g\. bias; no checkpoint had been written yet'):
        hook.after_train_iter(runner, 0, outputs=outputs)
    StopOnNonFiniteHook(check_parameters=False).after_train_iter(
        runner, 0, outputs=outputs)
