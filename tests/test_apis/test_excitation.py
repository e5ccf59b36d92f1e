"""senet_mmdet/apis/excitation.py: recording SE gates, class specificity."""
import numpy as np
import pytest
import torch

from mmdet.models.backbones import ResNet
from senet_mmdet.apis.excitation import (GateRecorder, class_specificity,
                                         excitation_summary, object_crops,
                                         paper_blocks, se_block_name,
                                         se_modules, shuffled_specificity)
from senet_mmdet.models import SEResNet


def random_statistics(model: torch.nn.Module) -> None:
    """BatchNorm statistics and affine parameters away from 0/1, so the
    frozen norms (and the fused SE step) do real work."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator))
            module.running_var.copy_(
                torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator))
            module.bias.data.copy_(torch.randn(size, generator=generator))


def test_block_names_follow_the_paper():
    assert se_block_name('layer1.2.se') == 'SE_2_3'
    assert se_block_name('layer4.0.se') == 'SE_5_1'
    with pytest.raises(ValueError, match='stem.se is not inside'):
        se_block_name('stem.se')
    names = list(se_modules(SEResNet(depth=50)))
    assert len(names) == 16
    # The blocks of the paper's Fig. 6 for SE-ResNet-50.
    assert paper_blocks(names) == [
        'SE_2_3', 'SE_3_4', 'SE_4_6', 'SE_5_1', 'SE_5_2', 'SE_5_3'
    ]


def test_plain_backbone_is_refused_and_plugins_are_found():
    with pytest.raises(ValueError, match='ResNet has no SE module'):
        se_modules(ResNet(depth=18))
    plugin = ResNet(depth=50, plugins=[
        dict(cfg=dict(type='SqueezeExcitation', ratio=16),
             position='after_conv3')
    ])
    assert list(se_modules(plugin))[:4] == [
        'SE_2_1', 'SE_2_2', 'SE_2_3', 'SE_3_1'
    ]


def test_fused_and_straightforward_steps_record_the_same_gates():
    torch.manual_seed(0)
    fused = SEResNet(depth=50, fuse_se=True)
    fused.init_weights()
    random_statistics(fused)
    straight = SEResNet(depth=50, fuse_se=False)
    straight.load_state_dict(fused.state_dict())
    fused.eval()
    straight.eval()
    assert fused.layer3[0].se_fuses_with_last_norm()
    assert not straight.layer3[0].se_fuses_with_last_norm()
    images = torch.rand(3, 3, 64, 80)
    recorded, recorders = {}, {}
    for name, model in (('fused', fused), ('straight', straight)):
        with GateRecorder(model) as recorder, torch.no_grad():
            model(images)
        recorded[name] = recorder.stacked()
        recorders[name] = recorder
    assert list(recorded['fused']) == list(se_modules(fused))
    for block, gates in recorded['fused'].items():
        assert gates.shape == (3, recorded['straight'][block].shape[1])
        np.testing.assert_allclose(gates, recorded['straight'][block],
                                   rtol=1e-5, atol=1e-6)
    # The recorded value is the module's gate: recompute one by hand from
    # the straightforward block's norm output.
    block = straight.layer2[1]
    with torch.no_grad():
        x = straight.layer1(straight.maxpool(straight.relu(
            straight.norm1(straight.conv1(images)))))
        x = straight.layer2[0](x)
        branch = block.norm3(block.conv3(block.residual_head(x)))
        gate = block.se.excite(branch.mean(dim=(2, 3), keepdim=True))
    np.testing.assert_allclose(recorded['straight']['SE_3_2'],
                               gate.flatten(1).double().numpy(), rtol=1e-6)
    # Hooks are removed on exit.
    with torch.no_grad():
        fused(images)
    assert recorders['fused'].stacked()['SE_2_1'].shape[0] == 3


def two_classes(difference: float, per_class: int = 400, channels: int = 32,
                spread: float = 0.1):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.7, channels)
    shift = difference * np.where(np.arange(channels) % 2, 1, -1)
    gates = np.concatenate([
        base + rng.normal(0, spread, (per_class, channels)),
        base + shift + rng.normal(0, spread, (per_class, channels))
    ])
    labels = np.repeat([0, 1], per_class)
    return gates, labels


def test_class_specificity_measures_separation_against_spread():
    # Profiles 0.2 apart on every channel, 0.1 spread: about 2.
    gates, labels = two_classes(0.2)
    assert class_specificity(gates, labels) == pytest.approx(2.0, rel=0.05)
    # The same distribution for both classes: chance level, sqrt(2 / 400).
    same, labels = two_classes(0.0)
    assert class_specificity(same, labels) < 0.12
    assert shuffled_specificity(same, labels) == pytest.approx(
        class_specificity(same, labels), abs=0.05)
    assert shuffled_specificity(gates, labels) < 0.12


@pytest.mark.parametrize('labels, message', [
    ([0, 0, 0, 0], 'at least two classes'),
    ([0, 0, 0, 1], 'at least two inputs per class'),
])
def test_class_specificity_needs_two_classes_of_two(labels, message):
    with pytest.raises(ValueError, match=message):
        class_specificity(np.random.rand(4, 8), np.array(labels))


def test_summary_counts_saturation_and_keeps_profiles():
    gates = {'SE_2_1': np.array([[0.95, 0.2], [0.97, 0.4], [0.5, 0.1],
                                 [0.3, 0.3]])}
    summary = excitation_summary(gates, np.array([0, 0, 1, 1]),
                                 ['cat', 'dog'])['SE_2_1']
    assert summary['channels'] == 2
    assert summary['saturated'] == 0.25
    assert summary['mean_gate'] == pytest.approx(0.465)
    assert summary['profiles'] == {'cat': [0.96, 0.3], 'dog': [0.4, 0.2]}
    assert summary['profile_all'] == [0.68, 0.25]


def test_object_crops_cut_boxes_with_context():
    image = np.zeros((100, 120, 3), np.uint8)
    image[40:60, 30:70] = 200
    (crop, ) = object_crops(image, np.array([[30., 40., 70., 60.]]), 32, 0.0)
    assert crop.shape == (32, 32, 3)
    assert crop.min() == 200
    (wide, ) = object_crops(image, np.array([[30., 40., 70., 60.]]), 32, 0.5)
    # Half the box size on each side: the object fills the middle half.
    assert wide[16, 16, 0] == 200 and wide[2, 2, 0] == 0
    # Clipped at the border.
    (edge, ) = object_crops(image, np.array([[0., 0., 20., 20.]]), 16, 1.0)
    assert edge.shape == (16, 16, 3)
