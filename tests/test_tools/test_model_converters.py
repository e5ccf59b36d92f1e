"""tools/model_converters/senet2mmdet.py."""
from pathlib import Path

import pytest
import timm
import torch

from mmdet.registry import MODELS
from senet_mmdet.checkpoints import (ConversionError, PretrainedMismatchError,
                                     load_converted, load_pretrained)
from ..test_checkpoints.test_converters import cadene_senet
from ..test_checkpoints.utils import randomize
from .utils import tool_in_process

CONVERTER = Path(__file__).parents[2] / 'tools' / 'model_converters' / (
    'senet2mmdet.py')


def convert(*args):
    return tool_in_process('model_converters/senet2mmdet.py', *args,
                           cwd=CONVERTER.parent)


def test_converts_a_cadene_file_and_prints_its_config(tmp_path):
    source = randomize(cadene_senet().se_resnet50(pretrained=None))
    torch.save(source.state_dict(), tmp_path / 'se_resnet50-ce0d4300.pth')
    result = convert(tmp_path / 'se_resnet50-ce0d4300.pth',
                     tmp_path / 'converted.pth')
    assert result.returncode == 0, result.stderr
    assert '(legacy)' in result.stdout
    assert "'style': 'caffe', 'stem_pool': 'caffe'" in result.stdout
    assert "'bgr_to_rgb': True" in result.stdout

    converted = torch.load(tmp_path / 'converted.pth')
    meta = converted['meta']['senet_mmdet']
    assert meta['source'] == 'legacy'
    assert meta['backbone'] == dict(
        type='SEResNet', depth=50, se_ratio=16, avg_down=False,
        deep_stem=False, relu_before_se=False, style='caffe',
        stem_pool='caffe')
    assert not any(k.startswith(('layer0', 'last_linear'))
                   for k in converted['state_dict'])
    backbone = MODELS.build(
        dict(type='SEResNet', depth=50, style='caffe', stem_pool='caffe'))
    load_pretrained(backbone, str(tmp_path / 'converted.pth'))
    torch.testing.assert_close(backbone.layer2[0].se.fc1.weight,
                               source.layer2[0].se_module.fc1.weight)

    plain = MODELS.build(dict(type='SEResNet', depth=50))
    with pytest.raises(PretrainedMismatchError,
                       match="set model.backbone.style='caffe'"):
        load_pretrained(plain, str(tmp_path / 'converted.pth'))


def test_format_can_be_forced_and_errors_name_the_file(tmp_path):
    torch.save({'fc.weight': torch.zeros(2, 2)}, tmp_path / 'plain.pth')
    result = convert(tmp_path / 'plain.pth', tmp_path / 'out.pth')
    assert result.returncode == 1
    assert result.stderr.startswith(f'error: {tmp_path}/plain.pth: cannot '
                                    'tell which SE-ResNet port')
    assert not (tmp_path / 'out.pth').exists()
    # The tool prints what the function it calls raises (above); the other
    # refusals, without a process each.
    with pytest.raises(ConversionError,
                       match='no SE module in the first block'):
        load_converted(str(tmp_path / 'plain.pth'), 'timm')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_converted(str(tmp_path / 'missing.pth'))


def test_timm_d_model_file_anti_aliasing_is_asked_for(tmp_path):
    # seresnext26d and an anti-aliased twin hold the same keys: the file
    # cannot tell, so the converter leaves the stem pool open and says so.
    source = randomize(timm.create_model('seresnext26d_32x4d'))
    torch.save(source.state_dict(), tmp_path / 'timm.pth')
    result = convert(tmp_path / 'timm.pth', tmp_path / 'unknown.pth')
    assert result.returncode == 0, result.stderr
    assert 'convert again with --anti-alias' in result.stdout
    meta = torch.load(tmp_path / 'unknown.pth')['meta']['senet_mmdet']
    assert 'stem_pool' not in meta['backbone']
    assert 'anti_alias' not in meta['backbone']

    result = convert(tmp_path / 'timm.pth', tmp_path / 'aa.pth',
                     '--anti-alias')
    assert result.returncode == 0, result.stderr
    assert '--anti-alias' not in result.stdout
    meta = torch.load(tmp_path / 'aa.pth')['meta']['senet_mmdet']
    assert meta['backbone']['anti_alias'] is True
    assert meta['backbone']['stem_pool'] == 'avg'

    # The other answer, and the flag on weights of a port without aa
    # models, through the same function the tool calls.
    _, conventions = load_converted(str(tmp_path / 'timm.pth'),
                                    anti_alias=False)
    assert (conventions.backbone['anti_alias'],
            conventions.backbone['stem_pool']) == (False, 'pytorch')
    legacy = randomize(timm.create_model('legacy_seresnet18'))
    torch.save(legacy.state_dict(), tmp_path / 'legacy.pth')
    with pytest.raises(ConversionError,
                       match='anti_alias=True is for timm weights; legacy '
                       'has no anti-aliased models'):
        load_converted(str(tmp_path / 'legacy.pth'), anti_alias=True)
