"""PaddleClas's SE models, run in paddlepaddle (a test-only dependency,
in a process of its own: paddleclas_reference.py) with random weights,
against our backbone loaded from the ``.pdparams`` file they were saved
to: every stage output to 1e-5, in float64."""
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdet.registry import MODELS
from senet_mmdet.checkpoints import ConversionError, load_converted
from senet_mmdet.checkpoints.formats.paddleclas import (PdparamsError,
                                                      read_pdparams)
from ..test_converters import assert_stages_match
from ..utils import zoo_arguments, shown_arguments

# PaddleClas's SE models but SE_ResNeXt152_64x4d, whose code does not run
# in paddle (its first block takes 64 channels from a 128-channel stem).
MODELS_UNDER_TEST = [
    # (file, factory, expected backbone arguments)
    ('se_resnet_vd', 'SE_ResNet18_vd',
     dict(type='SEResNet', depth=18, deep_stem=True, stem_channels=64,
          avg_down=True, always_project=True)),
    ('se_resnet_vd', 'SE_ResNet34_vd',
     dict(type='SEResNet', depth=34, always_project=True)),
    ('se_resnet_vd', 'SE_ResNet50_vd',
     dict(type='SEResNet', depth=50, deep_stem=True, avg_down=True)),
    ('se_resnext', 'SE_ResNeXt50_32x4d',
     dict(type='SEResNeXt', depth=50, groups=32, base_width=4,
          deep_stem=False, avg_down=False)),
    ('se_resnext', 'SE_ResNeXt101_32x4d',
     dict(type='SEResNeXt', depth=101, groups=32, base_width=4)),
    ('se_resnext_vd', 'SE_ResNeXt50_vd_32x4d',
     dict(type='SEResNeXt', depth=50, groups=32, base_width=4,
          deep_stem=True, stem_channels=128, avg_down=True)),
    ('se_resnext_vd', 'SENet154_vd',
     dict(type='SEResNeXt', depth=152, groups=64, base_width=4,
          deep_stem=True, stem_channels=128, avg_down=True)),
]


REFERENCE = Path(__file__).with_name('paddleclas_reference.py')


@pytest.fixture(scope='module')
def paddle_outputs(tmp_path_factory):
    """The folder where paddle left each model's .pdparams and stage
    outputs on ``input.npy`` (an odd size: where the stems' pools and the
    shortcuts' ceil-mode average pools round)."""
    folder = tmp_path_factory.mktemp('paddleclas')
    np.save(folder / 'input.npy', np.random.default_rng(1).random(
        (1, 3, 97, 97)))
    models = [f'{file}:{factory}' for file, factory, _ in MODELS_UNDER_TEST]
    result = subprocess.run(
        [sys.executable, str(REFERENCE), str(folder), *models],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


# paddle runs the seven models in a subprocess first (about 30 s).
@pytest.mark.slow
@pytest.mark.parametrize('file, factory, expected', MODELS_UNDER_TEST,
                         ids=[m[1] for m in MODELS_UNDER_TEST])
def test_paddleclas_weights_compute_what_paddleclas_computes(
        file, factory, expected, paddle_outputs):
    path = paddle_outputs / f'{factory}_pretrained.pdparams'
    state_dict, conventions = load_converted(str(path))
    assert conventions.source == 'paddleclas'
    backbone_args = conventions.backbone
    assert {k: backbone_args[k] for k in expected} == expected
    assert (backbone_args['style'], backbone_args['stem_pool']) == (
        'pytorch', 'pytorch')
    assert conventions.data_preprocessor['bgr_to_rgb']
    assert zoo_arguments()[f'checkpoints/{factory}_pretrained.pdparams'
                                  ] == shown_arguments(backbone_args)
    ours = MODELS.build(dict(backbone_args))
    ours.load_state_dict(state_dict, strict=True)
    x = torch.from_numpy(np.load(paddle_outputs / 'input.npy'))
    reference = [
        torch.from_numpy(np.load(paddle_outputs / f'{factory}_stage{i}.npy'))
        for i in range(4)
    ]
    with torch.no_grad():
        assert_stages_match(reference, ours.double().eval()(x))


def test_senet154_vd_and_resnext152_are_told_apart_by_the_name_table(
        tmp_path):
    # The two models' first tensors, in a file without paddle's name
    # table: which shortcuts they have cannot be told, so it is refused.
    # (With the table, SENet154_vd converts: the parity test above.)
    tensors = {
        'conv1_1._conv.weight': np.zeros((64, 3, 3, 3), np.float32),
        'bb_0_0.conv0._conv.weight': np.zeros((256, 128, 1, 1), np.float32),
        'bb_0_0.conv1._conv.weight': np.zeros((256, 4, 3, 3), np.float32),
        'bb_0_0.scale.squeeze.weight': np.zeros((256, 16), np.float32),
    }
    bare = tmp_path / 'bare.pdparams'
    with open(bare, 'wb') as file:
        pickle.dump(tensors, file, protocol=4)
    with pytest.raises(ConversionError,
                       match='SENet154_vd or SE_ResNeXt152_64x4d'):
        load_converted(str(bare))


def test_pdparams_reader_runs_nothing_but_arrays(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ('pwned', ))

    path = tmp_path / 'evil.pdparams'
    with open(path, 'wb') as file:
        pickle.dump({'conv1_1._conv.weight': Payload()}, file, protocol=4)
    with pytest.raises(PdparamsError,
                       match='asks to build builtins.print, which is not '
                       'part of a dict of arrays; refused'):
        read_pdparams(str(path))
    path.write_bytes(b'not a pickle')
    with pytest.raises(PdparamsError, match='is not a .pdparams pickle'):
        read_pdparams(str(path))


def test_pdparams_reader_names_what_is_not_a_dict_of_arrays(tmp_path):
    path = tmp_path / 'list.pdparams'
    with open(path, 'wb') as file:
        pickle.dump([np.zeros(2)], file, protocol=4)
    with pytest.raises(PdparamsError,
                       match='holds a list, not the dict of arrays'):
        read_pdparams(str(path))
    with open(path, 'wb') as file:
        pickle.dump({'conv1_1._conv.weight': 'weights'}, file, protocol=4)
    with pytest.raises(PdparamsError,
                       match=r'conv1_1._conv.weight is a str, not an array'):
        read_pdparams(str(path))
