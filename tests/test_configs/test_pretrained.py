"""Every COCO SE config starts from ImageNet SE weights, the ones its
architecture and preprocessor need: checked on every config, loaded (on
random stand-in weights in the source's own file, where timm would have
cached the download) for the flagship and the paper's protocols, and, with
the network made to fail, stopped with an error that says what to do."""
import os.path as osp
import urllib.error
from pathlib import Path

import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from senet_mmdet.checkpoints import WeightsNotFetchedError, convert_state_dict
from ..test_checkpoints.utils import randomize

REPO = Path(__file__).parents[2]
SENET = REPO / 'configs' / 'senet'
FLAGSHIP = REPO / 'configs' / 'faster_rcnn_se_r50.py'
TABLE7 = SENET / 'faster-rcnn_se-r50-caffe_fpn_tpami-table7-2x_coco.py'
CVPR_C4 = SENET / 'faster-rcnn_se-r50-caffe-c4_cvpr-basic_coco-2014.py'
SE_BACKBONES = ('SEResNet', 'SEResNeXt', 'SENet154')
# The examples that run where no ImageNet weights can be fetched: the toy
# shapes (make demo) and the tree crowns (make trees).
FROM_SCRATCH = {'toy', 'trees'}
COCO_SE_CONFIGS = sorted(
    path for path in (REPO / 'configs').rglob('*.py')
    if not ({'deploy', '_base_'} | FROM_SCRATCH)
    & set(path.relative_to(REPO).parts)
    and Config.fromfile(path).model.backbone.type in SE_BACKBONES)


def test_every_se_config_but_the_examples_is_checked_here():
    # 24 COCO configs and the own-dataset template.
    assert len(COCO_SE_CONFIGS) == 25


@pytest.mark.parametrize(
    'path', COCO_SE_CONFIGS,
    ids=[str(p.relative_to(REPO)) for p in COCO_SE_CONFIGS])
def test_coco_se_config_starts_from_imagenet_se_weights(path):
    model = Config.fromfile(path).model
    init_cfg = model.backbone.init_cfg
    assert init_cfg is not None and init_cfg.type == 'Pretrained'
    checkpoint = init_cfg.checkpoint
    # Plain ImageNet ResNets would leave every SE module random.
    assert not checkpoint.startswith(('torchvision://', 'open-mmlab://'))
    head = model.get('roi_head', {}).get('shared_head')
    if head is not None:
        # The C4 head is the SE conv5 of the same weights.
        assert head.type == 'SEResLayer'
        assert head.init_cfg == dict(type='Pretrained', checkpoint=checkpoint)


@pytest.mark.parametrize('path, reason', [
    ('toy/faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py',
     'From scratch, on purpose'),
    ('trees/faster-rcnn_se-r18_fpn-lean_8e_neon-trees.py',
     'No ImageNet weights: this machine cannot fetch them'),
])
def test_example_configs_train_from_scratch_and_say_why(path, reason):
    config = REPO / 'configs' / path
    assert Config.fromfile(config).model.backbone.init_cfg is None
    assert reason in config.read_text()


def refuse_network(*args, **kwargs):
    raise urllib.error.URLError('network is unreachable (made to fail)')


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty torch hub folder, and every download refused."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setattr(torch.hub, 'urlopen', refuse_network)
    return tmp_path / 'torch' / 'hub' / 'checkpoints'


def stand_in_download(hub: Path, name: str) -> torch.nn.Module:
    """Random weights of timm's ``name`` in the file its URL names, in the
    torch hub folder where timm looks before it downloads."""
    source = randomize(timm.create_model(name.split('.')[0]))
    url = timm.models.get_pretrained_cfg(name).url
    hub.mkdir(parents=True, exist_ok=True)
    torch.save(source.state_dict(), hub / osp.basename(url))
    return source


def se_weights(cfg: Config) -> str:
    checkpoint = cfg.model.backbone.init_cfg.checkpoint
    assert checkpoint.startswith('timm://legacy_')
    return checkpoint[len('timm://'):]


@pytest.mark.parametrize('path', [FLAGSHIP, TABLE7, CVPR_C4],
                         ids=['flagship', 'tpami-table7', 'cvpr-c4'])
def test_config_loads_its_imagenet_se_weights_exactly(path, offline):
    cfg = Config.fromfile(path)
    source = stand_in_download(offline, se_weights(cfg))
    expected, conventions = convert_state_dict(source.state_dict())
    preprocessor = cfg.model.data_preprocessor
    assert dict(mean=preprocessor.mean, std=preprocessor.std,
                bgr_to_rgb=preprocessor.bgr_to_rgb) == \
        conventions.data_preprocessor
    init_default_scope('mmdet')
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    loaded = dict(detector.backbone.state_dict())
    head = getattr(detector.roi_head, 'shared_head', None)
    if head is not None:
        # C4: the backbone holds stages 1-3, the head stage 4.
        assert not any(key.startswith('layer4.') for key in loaded)
        loaded.update(head.state_dict())
    weights = {key for key in expected if 'num_batches_tracked' not in key}
    assert {key for key in loaded if 'num_batches_tracked' not in key} == \
        weights
    assert sum('.se.' in key for key in weights) == 16 * 4
    for key in weights:
        assert torch.equal(loaded[key], expected[key]), key


def test_offline_timm_weights_stop_naming_the_download_and_the_option(
        offline, tmp_path):
    cfg = Config.fromfile(FLAGSHIP)
    init_default_scope('mmdet')
    backbone = MODELS.build(cfg.model.backbone)
    with pytest.raises(WeightsNotFetchedError) as info:
        backbone.init_weights()
    message = str(info.value)
    assert message.startswith('timm://legacy_seresnet50.in1k: timm could '
                              'not load the weights')
    assert 'network is unreachable (made to fail)' in message
    url = timm.models.get_pretrained_cfg('legacy_seresnet50.in1k').url
    assert url in message
    # README sends the offline user to the quick start that downloads it.
    readme = (REPO / 'README.md').read_text()
    assert ('docs/configs_and_weights.md#quick-start-the-flagship-on-coco'
            in readme)
    page = (REPO / 'docs' / 'configs_and_weights.md').read_text()
    assert f'wget {url}' in page
    assert f'cp {osp.basename(url)} ~/.cache/torch/hub/checkpoints/' in page
    assert '--cfg-options model.backbone.init_cfg.checkpoint=PATH' in message
    # The download, passed as that option says, loads.
    source = stand_in_download(tmp_path / 'download',
                               'legacy_seresnet50.in1k')
    path = next((tmp_path / 'download').iterdir())
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': str(path)})
    backbone = MODELS.build(cfg.model.backbone)
    backbone.init_weights()
    torch.testing.assert_close(backbone.layer4[2].se.fc2.bias,
                               source.layer4[2].se_module.fc2.bias)


def test_offline_url_weights_stop_naming_the_download_and_the_option(
        offline):
    cfg = Config.fromfile(
        SENET / 'faster-rcnn_se-r50-mmpretrain_fpn_1x_coco.py')
    url = cfg.model.backbone.init_cfg.checkpoint
    init_default_scope('mmdet')
    backbone = MODELS.build(cfg.model.backbone)
    with pytest.raises(WeightsNotFetchedError) as info:
        backbone.init_weights()
    message = str(info.value)
    assert message.startswith(f'{url}: the pretrained weights could not be '
                              'fetched (<urlopen error network is '
                              'unreachable (made to fail)>)')
    assert f'download {url}, then either copy the file into {offline}' in (
        message)
    assert '--cfg-options model.backbone.init_cfg.checkpoint=PATH' in message
