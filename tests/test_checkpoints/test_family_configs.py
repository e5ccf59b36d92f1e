"""The per-family configs: each one's backbone arguments and data
preprocessor are what its weights need, and ``timm://`` loads offline from
a hub cache and says what to do when the weights are absent."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from senet_mmdet.checkpoints import load_converted
from .test_formats.test_caffe import PROTOTXT, CaffeNet
from .test_converters import cadene_senet
from .utils import randomize

REPO = Path(__file__).parents[2]
SENET = REPO / 'configs' / 'senet'
FLAGSHIP = REPO / 'configs' / 'faster_rcnn_se_r50.py'


def legacy(name):
    return lambda: randomize(timm.create_model(name)).state_dict()


def cadene_file(factory):
    return lambda: randomize(getattr(cadene_senet(), factory)(
        pretrained=None)).state_dict()


def mmpretrain_file():
    from mmpretrain.models import SEResNet
    backbone = SEResNet(depth=50)
    return {f'backbone.{k}': v for k, v in randomize(
        backbone).state_dict().items()}


FAMILIES = [
    (SENET / 'faster-rcnn_se-r50-timm_fpn_1x_coco.py', legacy('seresnet50')),
    (FLAGSHIP, legacy('legacy_seresnet50')),
    (SENET / 'faster-rcnn_se-x50-32x4d_fpn_1x_coco.py',
     cadene_file('se_resnext50_32x4d')),
    (SENET / 'faster-rcnn_senet154-legacy_fpn_1x_coco.py',
     cadene_file('senet154')),
    (SENET / 'faster-rcnn_se-r50-mmpretrain_fpn_1x_coco.py', mmpretrain_file),
]


@pytest.mark.parametrize('config, weights', FAMILIES,
                         ids=[path.stem for path, _ in FAMILIES])
def test_family_config_matches_its_weights(config, weights, tmp_path):
    path = tmp_path / 'weights.pth'
    torch.save(weights(), path)
    assert_config_takes(config, path)


def test_caffe_family_config_matches_the_caffemodel(tmp_path):
    path = tmp_path / 'SE-ResNet-50.caffemodel'
    CaffeNet(PROTOTXT / 'SE-ResNet-50.prototxt').write(path)
    assert_config_takes(
        SENET / 'faster-rcnn_se-r50-caffe-official_fpn_1x_coco.py', path)


def assert_config_takes(config: Path, weights: Path) -> None:
    """The config's data preprocessor normalises as the weights need, and
    its backbone, pointed at them, initialises (which raises on any
    convention or key mismatch)."""
    cfg = Config.fromfile(config)
    _, conventions = load_converted(str(weights))
    preprocessor = cfg.model.data_preprocessor
    assert dict(mean=preprocessor.mean, std=preprocessor.std,
                bgr_to_rgb=preprocessor.bgr_to_rgb) == \
        conventions.data_preprocessor
    cfg.model.backbone.init_cfg.checkpoint = str(weights)
    MODELS.build(cfg.model.backbone).init_weights()


def hub_cache(root: Path, repo: str, weights: dict) -> None:
    """Lay out ``weights`` as the Hugging Face hub cache holds a download
    of ``repo`` (what ``timm.create_model(..., pretrained=True)`` leaves)."""
    from safetensors.torch import save_file
    revision = '0' * 40
    folder = root / 'hub' / f'models--{repo.replace("/", "--")}'
    (folder / 'refs').mkdir(parents=True)
    (folder / 'refs' / 'main').write_text(revision)
    snapshot = folder / 'snapshots' / revision
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in weights.items()},
              str(snapshot / 'model.safetensors'))


TIMM_LOAD = """
import torch, timm, senet_mmdet
from mmdet.registry import MODELS
backbone = MODELS.build(dict(type='SEResNet', depth=50, init_cfg=dict(
    type='Pretrained', checkpoint='timm://{name}')))
backbone.init_weights()
source = timm.create_model('seresnet50')
source.load_state_dict(torch.load('{weights}'))
source.eval().double(); backbone.eval().double()
x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
with torch.no_grad():
    y = source.layer4(source.layer3(source.layer2(source.layer1(
        source.maxpool(source.act1(source.bn1(source.conv1(x))))))))
    print('max error', float((backbone(x)[-1] - y).abs().max()))
"""


def run_offline(tmp_path, code):
    env = dict(os.environ, HF_HOME=str(tmp_path / 'hf'), HF_HUB_OFFLINE='1')
    return subprocess.run([sys.executable, '-c', code], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_timm_scheme_loads_offline_from_the_hub_cache(tmp_path):
    name = 'seresnet50.a1_in1k'
    repo = timm.models.get_pretrained_cfg(name).hf_hub_id
    weights = randomize(timm.create_model('seresnet50')).state_dict()
    hub_cache(tmp_path / 'hf', repo, weights)
    torch.save(weights, tmp_path / 'weights.pth')
    result = run_offline(tmp_path, TIMM_LOAD.format(
        name=name, weights=tmp_path / 'weights.pth'))
    assert result.returncode == 0, result.stderr[-3000:]
    error = float(result.stdout.split('max error')[1])
    assert error < 1e-5


@pytest.mark.slow
def test_timm_scheme_without_the_weights_says_what_to_do(tmp_path):
    result = run_offline(
        tmp_path, TIMM_LOAD.format(name='seresnet50.a1_in1k',
                                   weights='unused'))
    assert result.returncode != 0
    message = result.stderr
    assert 'timm://seresnet50.a1_in1k: timm could not load the weights' \
        in message
    assert f'not in the local caches (Hugging Face cache {tmp_path}/hf/hub' \
        in message
    assert "timm.create_model('seresnet50.a1_in1k', pretrained=True)" in (
        message)


@pytest.mark.slow
def test_timm_scheme_names_unknown_models(tmp_path):
    result = run_offline(
        tmp_path, TIMM_LOAD.format(name='seresnet_typo.in1k',
                                   weights='unused'))
    assert result.returncode != 0
    assert "timm has no model 'seresnet_typo'" in result.stderr


def test_detector_init_loads_the_backbone_weights(tmp_path):
    """Through the whole detector's init_weights, as a Runner calls it."""
    source = randomize(timm.create_model('legacy_seresnet50'))
    torch.save(source.state_dict(), tmp_path / 'legacy.pth')
    cfg = Config.fromfile(FLAGSHIP)
    cfg.model.backbone.init_cfg.checkpoint = str(tmp_path / 'legacy.pth')
    init_default_scope('mmdet')
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    torch.testing.assert_close(detector.backbone.conv1.weight,
                               source.layer0.conv1.weight)
    torch.testing.assert_close(detector.backbone.layer4[2].se.fc2.bias,
                               source.layer4[2].se_module.fc2.bias)
