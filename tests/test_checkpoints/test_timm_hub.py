"""Every SE model in timm's pretrained list, through ``timm://``: the
weights (random here: nothing can be downloaded) convert, and our backbone
built from the conventions they carry computes timm's four stage outputs."""
import re
from contextlib import contextmanager

import pytest
import timm
import torch
from mmengine.runner import CheckpointLoader

from mmdet.registry import MODELS
from senet_mmdet.checkpoints.timm_hub import load_from_timm
from .test_converters import assert_stages_match, senet_stages, timm_stages
from .utils import randomize, zoo_arguments, shown_arguments

# timm's SE-ResNet / SE-ResNeXt / SENet architectures with pretrained
# weights, each with its first pretrained tag. The ByobNet-based ``*ts``
# models (seresnet33ts, seresnext26ts) are another network family.
SE_ARCHITECTURE = re.compile(r'(legacy_)?se(resnet|resnext|net)\w*')
TIMM_SE_TAGS = [
    name for name in timm.list_pretrained()
    if SE_ARCHITECTURE.fullmatch(name.split('.')[0])
    and not name.split('.')[0].endswith('ts')
]
TIMM_SE_MODELS = sorted({
    name.split('.')[0]: name
    for name in reversed(TIMM_SE_TAGS)
}.values())


def test_zoo_lists_every_timm_se_weight():
    listed = {name[len('timm://'):] for name in zoo_arguments()
              if name.startswith('timm://')}
    assert listed == set(TIMM_SE_TAGS)


def test_the_list_holds_every_family_timm_publishes():
    architectures = {name.split('.')[0] for name in TIMM_SE_MODELS}
    assert {
        'seresnet50', 'seresnet152d', 'seresnext26d_32x4d',
        'seresnext26t_32x4d', 'seresnext101_32x8d', 'seresnext101_64x4d',
        'seresnext101d_32x8d', 'seresnextaa101d_32x8d',
        'seresnextaa201d_32x8d', 'senet154', 'legacy_senet154',
        'legacy_seresnext26_32x4d', 'legacy_seresnet18'
    } <= architectures
    assert not any(name.endswith('ts') for name in architectures)


@contextmanager
def uninitialised_float64():
    """Modules built in this context have float64 parameters on the meta
    device: no storage and no initialisation, which for the 100M-parameter
    models costs more than the comparison itself."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.device('meta'):
            yield
    finally:
        torch.set_default_dtype(default)


@pytest.fixture
def random_timm_weights(monkeypatch):
    """``timm.create_model(..., pretrained=True)`` gives seed-0 random
    float64 weights; the models built are kept for comparison."""
    built = []
    create = timm.create_model

    def create_random(name, pretrained=False, **kwargs):
        with uninitialised_float64():
            model = create(name, pretrained=False, **kwargs)
        # Every float tensor is drawn by randomize; BatchNorm's integer
        # counters stay unset, which eval mode never reads.
        model = randomize(model.to_empty(device='cpu'))
        built.append(model)
        return model

    monkeypatch.setattr(timm, 'create_model', create_random)
    return built


@pytest.mark.parametrize('name', TIMM_SE_MODELS)
def test_timm_se_model_loads_with_parity(name, random_timm_weights):
    loaded = CheckpointLoader.load_checkpoint(f'timm://{name}')
    source = random_timm_weights[0]
    conventions = loaded['meta']['senet_mmdet']
    # Built empty, then given the converted tensors themselves.
    with uninitialised_float64():
        backbone = MODELS.build(dict(conventions['backbone']))
    backbone.load_state_dict(loaded['state_dict'], strict=True, assign=True)
    # Every timm SE model takes RGB with the ImageNet mean and std.
    assert conventions['data_preprocessor'] == dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True)
    # Anti-aliasing has no tensors: only the built model can tell it.
    architecture = name.split('.')[0]
    if not architecture.startswith('legacy_'):
        assert conventions['backbone']['anti_alias'] == ('aa' in
                                                         architecture)
    # The zoo (docs/configs_and_weights.md) lists these arguments for every
    # tag of the model.
    zoo = zoo_arguments()
    for tag in TIMM_SE_TAGS:
        if tag.split('.')[0] == architecture:
            assert zoo[f'timm://{tag}'] == shown_arguments(
                conventions['backbone'])
    stages = senet_stages if architecture.startswith('legacy_') else (
        timm_stages)
    # float64 so that the conversion is compared, not rounding; 65 is odd
    # where the stems' pools differ (and every aa model accepts it).
    x = torch.rand(1, 3, 65, 65, dtype=torch.float64)
    with torch.no_grad():
        assert_stages_match(stages(source, x), backbone.eval()(x))


def test_anti_aliased_weights_in_a_plain_backbone_are_refused(
        random_timm_weights, tmp_path):
    name = 'seresnextaa101d_32x8d.sw_in12k_ft_in1k'
    backbone = MODELS.build(
        dict(
            type='SEResNeXt', depth=101, groups=32, base_width=8,
            deep_stem=True, avg_down=True,
            init_cfg=dict(type='Pretrained', checkpoint=f'timm://{name}')))
    with pytest.raises(
            ValueError,
            match=r"set model.backbone.anti_alias=True, "
            r"model.backbone.stem_pool='avg'"):
        backbone.init_weights()


def test_load_from_timm_names_unknown_models():
    with pytest.raises(ValueError, match="timm has no model 'seresnet51'"):
        load_from_timm('timm://seresnet51.a1_in1k')
