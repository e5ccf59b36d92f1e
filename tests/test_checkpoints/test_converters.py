"""Each port's own implementation, given random weights, against our
backbone loaded with the converted weights: every stage output to 1e-5."""
import importlib.util
from pathlib import Path

import pytest
import timm
import torch
from mmpretrain.models import SEResNet as MMPretrainSEResNet
from mmpretrain.models import SEResNeXt as MMPretrainSEResNeXt

from mmdet.registry import MODELS
from senet_mmdet.checkpoints import (ConversionError, PretrainedMismatchError,
                                     convert_state_dict, detect_format,
                                     load_pretrained)
from .utils import randomize


def cadene_senet():
    """The original port's module, loaded from its file in the
    ``pretrainedmodels`` package (the package itself imports far more)."""
    package = importlib.util.find_spec('pretrainedmodels')
    path = Path(package.submodule_search_locations[0]) / 'models' / 'senet.py'
    spec = importlib.util.spec_from_file_location('cadene_senet', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timm_stages(model, x):
    x = model.maxpool(model.act1(model.bn1(model.conv1(x))))
    return _stages(model, x)


def senet_stages(model, x):
    x = model.layer0(x)
    # timm's legacy SENet keeps the stem pool out of layer0; Cadene's has it
    # inside.
    if hasattr(model, 'pool0'):
        x = model.pool0(x)
    return _stages(model, x)


def mmpretrain_stages(model, x):
    return list(model(x))


def _stages(model, x):
    outputs = []
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = layer(x)
        outputs.append(x)
    return outputs


def converted_backbone(state_dict, conventions):
    backbone = MODELS.build(dict(conventions.backbone))
    backbone.load_state_dict(state_dict, strict=True)
    backbone.eval()
    return backbone


def assert_stages_match(reference, ours):
    assert len(reference) == len(ours) == 4
    for expected, actual in zip(reference, ours):
        assert expected.shape == actual.shape
        error = (expected - actual).abs().max() / expected.abs().max()
        assert error < 1e-5, float(error)


SOURCES = [
    # (id, build the source, its stage outputs, format, expected backbone);
    # timm's own models, legacy ones included: test_timm_hub.py.
    ('cadene-se_resnet50', lambda: cadene_senet().se_resnet50(
        pretrained=None), senet_stages, 'legacy',
     dict(type='SEResNet', depth=50, style='caffe', stem_pool='caffe')),
    ('cadene-se_resnext50_32x4d', lambda: cadene_senet().se_resnext50_32x4d(
        pretrained=None), senet_stages, 'legacy',
     dict(type='SEResNeXt', depth=50, groups=32, base_width=4,
          style='pytorch', stem_pool='caffe')),
    ('cadene-senet154', lambda: cadene_senet().senet154(pretrained=None),
     senet_stages, 'legacy', dict(type='SENet154', style='pytorch',
                                  stem_pool='caffe')),
    ('mmpretrain-seresnet50', lambda: MMPretrainSEResNet(
        depth=50, out_indices=(0, 1, 2, 3)), mmpretrain_stages, 'mmpretrain',
     dict(type='SEResNet', depth=50, style='pytorch', stem_pool='pytorch')),
    ('mmpretrain-seresnext50', lambda: MMPretrainSEResNeXt(
        depth=50, groups=32, width_per_group=4, out_indices=(0, 1, 2, 3)),
     mmpretrain_stages, 'mmpretrain',
     dict(type='SEResNeXt', depth=50, groups=32, base_width=4,
          style='pytorch', stem_pool='pytorch')),
]


@pytest.mark.parametrize(
    'build, stages, source, backbone', [s[1:] for s in SOURCES],
    ids=[s[0] for s in SOURCES])
def test_converted_weights_compute_what_the_source_computes(
        build, stages, source, backbone):
    model = randomize(build())
    state_dict = model.state_dict()
    if source == 'mmpretrain':
        # mmpretrain checkpoints hold the classifier's backbone under
        # "backbone." and its head beside it.
        state_dict = {f'backbone.{k}': v for k, v in state_dict.items()}
        state_dict['head.fc.weight'] = torch.zeros(1000, 2048)
    assert detect_format(state_dict) == source
    converted, conventions = convert_state_dict(state_dict)
    assert conventions.source == source
    assert {k: conventions.backbone[k] for k in backbone} == backbone
    assert conventions.backbone['se_ratio'] == 16
    norm = conventions.data_preprocessor
    assert norm['bgr_to_rgb'] and norm['std'] == [58.395, 57.12, 57.375]
    ours = converted_backbone(converted, conventions)
    # float64, so that what is compared is the conversion, not the rounding
    # of two float32 formulations through 16 blocks. An odd size, where
    # Caffe's ceil-mode stem pool and the padded one give different maps:
    # the stem convention shows.
    x = torch.rand(2, 3, 97, 97, dtype=torch.float64)
    with torch.no_grad():
        assert_stages_match(stages(model.double(), x), ours.double()(x))


def test_wrong_conventions_are_an_error_naming_the_argument(tmp_path):
    source = randomize(cadene_senet().se_resnet50(pretrained=None))
    path = tmp_path / 'se_resnet50.pth'
    torch.save(source.state_dict(), path)
    backbone = MODELS.build(dict(type='SEResNet', depth=50))
    with pytest.raises(PretrainedMismatchError) as info:
        load_pretrained(backbone, str(path))
    message = str(info.value)
    assert "the backbone has style='pytorch', stem_pool='pytorch'" in message
    assert ("set model.backbone.style='caffe', "
            "model.backbone.stem_pool='caffe'") in message
    assert 'mean=[123.675, 116.28, 103.53]' in message

    fixed = MODELS.build(
        dict(type='SEResNet', depth=50, style='caffe', stem_pool='caffe'))
    load_pretrained(fixed, str(path))
    fixed.eval()
    x = torch.rand(1, 3, 65, 65, dtype=torch.float64)
    with torch.no_grad():
        assert_stages_match(
            senet_stages(source.double(), x), fixed.double()(x))


def test_every_key_is_accounted_for(tmp_path):
    state_dict = randomize(timm.create_model('seresnet50')).state_dict()
    converted, conventions = convert_state_dict(state_dict)
    del converted['layer3.2.se.fc2.bias']
    converted['layer4.2.se.fc3.weight'] = torch.zeros(1)
    path = tmp_path / 'converted.pth'
    torch.save(dict(state_dict=converted,
                    meta=dict(senet_mmdet=conventions.to_meta())), path)
    backbone = MODELS.build(dict(type='SEResNet', depth=50))
    with pytest.raises(PretrainedMismatchError) as info:
        load_pretrained(backbone, str(path))
    message = str(info.value)
    assert "1 key(s) left unfilled: ['layer3.2.se.fc2.bias']" in message
    assert ("1 key(s) with no place in the backbone: "
            "['layer4.2.se.fc3.weight']") in message

    no_se_in_stage4 = MODELS.build(
        dict(type='SEResNet', depth=50,
             stage_with_se=(True, True, True, False)))
    with pytest.raises(PretrainedMismatchError, match='with no place'):
        load_pretrained(no_se_in_stage4, str(path))


def test_wrong_shapes_are_listed(tmp_path):
    converted, conventions = convert_state_dict(
        randomize(timm.create_model('seresnet50')).state_dict())
    converted['layer1.0.se.fc1.weight'] = torch.zeros(8, 256, 1, 1)
    path = tmp_path / 'converted.pth'
    torch.save(dict(state_dict=converted,
                    meta=dict(senet_mmdet=conventions.to_meta())), path)
    with pytest.raises(PretrainedMismatchError) as info:
        load_pretrained(MODELS.build(dict(type='SEResNet', depth=50)),
                        str(path))
    assert ("1 key(s) of the wrong shape (checkpoint vs backbone): "
            "['layer1.0.se.fc1.weight (8, 256, 1, 1) vs (16, 256, 1, 1)']"
            ) in str(info.value)


def test_unknown_source_keys_are_listed():
    state_dict = timm.create_model('seresnet18').state_dict()
    state_dict['layer1.0.attn.weight'] = torch.zeros(1)
    with pytest.raises(ConversionError) as info:
        convert_state_dict(state_dict)
    assert "1 timm key(s) have no place in an SE backbone: " \
        "['layer1.0.attn.weight']" in str(info.value)


def test_weights_without_se_are_refused():
    with pytest.raises(ConversionError, match='cannot tell which'):
        detect_format(timm.create_model('resnet18').state_dict())
    with pytest.raises(ConversionError, match='no SE module'):
        convert_state_dict(timm.create_model('resnet18').state_dict(), 'timm')


def test_pretrained_init_cfg_loads_through_the_backbone(tmp_path):
    source = randomize(timm.create_model('seresnext50_32x4d'))
    path = tmp_path / 'seresnext50.pth'
    torch.save(source.state_dict(), path)
    backbone = MODELS.build(
        dict(type='SEResNeXt', depth=50, groups=32, base_width=4,
             init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    backbone.init_weights()
    backbone.eval()
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        assert_stages_match(timm_stages(source.double(), x),
                            backbone.double()(x))


@pytest.mark.parametrize('name', [
    'seresnet50', 'legacy_seresnet18', 'seresnext26t_32x4d'])
def test_the_backbone_the_weights_name_reports_all_they_need(name):
    """What conversion and loading agree on: the conventions of converted
    weights are constructor arguments of the backbone type they name, and
    that backbone, built with them, reports every one of them back to the
    loader, which checks each (none is skipped as unknown)."""
    _, conventions = convert_state_dict(timm.create_model(name).state_dict())
    backbone = MODELS.build(dict(conventions.backbone))
    reported = backbone.weight_conventions()
    assert {
        argument: reported.get(argument, 'not reported')
        for argument in conventions.backbone
    } == conventions.backbone
