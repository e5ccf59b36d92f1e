import pytest
import timm
import torch

from mmdet.registry import MODELS
from senet_mmdet.checkpoints import PretrainedMismatchError, load_pretrained
from .utils import randomize


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


def plain_resnet50_weights(path):
    """ImageNet-style plain ResNet-50 weights as torchvision names them
    (what ``torchvision://resnet50`` loads), classifier included."""
    import torchvision
    plain = randomize(torchvision.models.resnet50())
    torch.save(plain.state_dict(), path)
    return plain.state_dict()


def test_plain_resnet_weights_are_refused_with_the_reason(tmp_path):
    plain_resnet50_weights(tmp_path / 'resnet50.pth')
    backbone = MODELS.build(dict(type='SEResNet', depth=50))
    with pytest.raises(PretrainedMismatchError) as error:
        load_pretrained(backbone, str(tmp_path / 'resnet50.pth'))
    message = str(error.value)
    assert 'holds plain ResNet weights (no SE tensors)' in message
    assert 'SE modules would stay untrained' in message
    assert 'faster-rcnn_se-r50-timm_fpn_1x_coco.py' in message
    assert 'allow_plain=True' in message


def test_allow_plain_loads_every_plain_tensor_and_starts_as_resnet(tmp_path):
    """SE-ResNet-50 on ResNet-50's weights computes ResNet-50's stage
    outputs within 1 % at step 0 (MMDetection's ResNet as reference)."""
    source = plain_resnet50_weights(tmp_path / 'resnet50.pth')
    checkpoint = str(tmp_path / 'resnet50.pth')
    se = MODELS.build(
        dict(type='SEResNet', depth=50, out_indices=(0, 1, 2, 3),
             init_cfg=dict(type='Pretrained', checkpoint=checkpoint,
                           allow_plain=True)))
    se.init_weights()
    plain = MODELS.build(dict(type='ResNet', depth=50))
    plain.load_state_dict(
        {k: v for k, v in source.items() if not k.startswith('fc.')})
    for key, value in plain.state_dict().items():
        assert torch.equal(se.state_dict()[key], value), key
    for block in (se.layer1[0], se.layer4[2]):
        assert torch.all(block.se.fc2.weight == 0)
        assert torch.sigmoid(block.se.fc2.bias).allclose(
            torch.tensor(0.995))
    se.eval()
    plain.eval()
    images = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        for ours, reference in zip(se(images), plain(images)):
            relative = (ours - reference).norm() / reference.norm()
            assert relative < 0.01
            # ... and not by accident: the gates do scale the branches.
            assert relative > 0


def test_allow_plain_still_accounts_for_every_plain_key(tmp_path):
    source = plain_resnet50_weights(tmp_path / 'resnet50.pth')
    del source['layer2.1.conv2.weight']
    source['layer9.weight'] = torch.zeros(1)
    torch.save(source, tmp_path / 'broken.pth')
    backbone = MODELS.build(dict(type='SEResNet', depth=50))
    with pytest.raises(PretrainedMismatchError) as error:
        load_pretrained(backbone, str(tmp_path / 'broken.pth'),
                        allow_plain=True)
    message = str(error.value)
    assert "1 key(s) left unfilled: ['layer2.1.conv2.weight']" in message
    assert "1 key(s) with no place in the backbone: ['layer9.weight']" in (
        message)


def test_allow_plain_needs_the_se_bias(tmp_path):
    plain_resnet50_weights(tmp_path / 'resnet50.pth')
    backbone = MODELS.build(dict(type='SEResNet', depth=50, se_bias=False))
    with pytest.raises(ValueError, match='se_bias=True'):
        load_pretrained(backbone, str(tmp_path / 'resnet50.pth'),
                        allow_plain=True)


def test_se_weights_refuse_a_module_that_is_no_se_backbone(tmp_path):
    """Converted weights are checked against the arguments the module
    reports, plain ones start its SE modules: a module that does neither
    (MMDetection's ResNet) is named, with the modules that do."""
    se_resnet18 = randomize(MODELS.build(dict(type='SEResNet', depth=18)))
    torch.save(se_resnet18.state_dict(), tmp_path / 'se_weights.pth')
    plain_resnet50_weights(tmp_path / 'resnet50.pth')
    for checkpoint, depth, why in (
            ('se_weights.pth', 18, 'converted weights are checked'),
            ('resnet50.pth', 50, 'plain ResNet weights need its SE')):
        resnet = MODELS.build(dict(type='ResNet', depth=depth))
        with pytest.raises(TypeError) as error:
            load_pretrained(resnet, str(tmp_path / checkpoint),
                            allow_plain=True)
        message = str(error.value)
        assert f'ResNet is not an SE backbone of senet_mmdet ({why}' in (
            message)
        assert 'only SEResNet, SEResNeXt, SENet154 and the C4 head' in (
            message)
