import pytest
import timm
import torch

from mmdet.registry import MODELS
from senet_mmdet.checkpoints import PretrainedMismatchError, load_pretrained
from .test_converters import randomize


def detector_checkpoint(path):
    """A detector trained with this package: backbone keys under
    ``backbone.``, beside the rest of the detector."""
    backbone = randomize(MODELS.build(dict(type='SEResNet', depth=18)))
    state_dict = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state_dict['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
    torch.save(dict(state_dict=state_dict, meta=dict(epoch=12)), path)
    return backbone


def test_prefix_takes_the_backbone_out_of_a_detector(tmp_path):
    source = detector_checkpoint(tmp_path / 'detector.pth')
    backbone = MODELS.build(dict(type='SEResNet', depth=18))
    assert load_pretrained(backbone, str(tmp_path / 'detector.pth'),
                           prefix='backbone.') is None
    torch.testing.assert_close(backbone.state_dict(), source.state_dict())


def test_wrong_prefix_or_depth_is_an_error(tmp_path):
    detector_checkpoint(tmp_path / 'detector.pth')
    with pytest.raises(PretrainedMismatchError,
                       match="has no key starting with 'model.backbone.'"):
        load_pretrained(
            MODELS.build(dict(type='SEResNet', depth=18)),
            str(tmp_path / 'detector.pth'),
            prefix='model.backbone.')
    with pytest.raises(PretrainedMismatchError, match='left unfilled'):
        load_pretrained(
            MODELS.build(dict(type='SEResNet', depth=34)),
            str(tmp_path / 'detector.pth'),
            prefix='backbone.')


def test_missing_local_checkpoint_says_how_to_get_one(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match='senet2mmdet.py, or use checkpoint=.timm://'):
        load_pretrained(
            MODELS.build(dict(type='SEResNet', depth=18)),
            str(tmp_path / 'absent.pth'))


def test_url_checkpoints_go_to_mmengine_loaders(monkeypatch):
    """A URL (the mmpretrain family config's) is read through mmengine's
    scheme loaders, converted, and checked, like a local file."""
    weights = randomize(timm.create_model('seresnet50')).state_dict()
    read = []

    def fake_read(checkpoint):
        read.append(checkpoint)
        return weights

    monkeypatch.setattr('senet_mmdet.checkpoints.loading.read_checkpoint',
                        fake_read)
    url = 'https://download.example.org/seresnet50.pth'
    backbone = MODELS.build(dict(type='SEResNet', depth=50))
    load_pretrained(backbone, url)
    assert read == [url]
    torch.testing.assert_close(backbone.layer1[0].se.fc1.weight,
                               weights['layer1.0.se.fc1.weight'])
