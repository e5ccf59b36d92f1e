from senet_mmdet.apis.config import load_config
from ..test_tools.utils import REPO

GENERIC = REPO / 'configs' / 'senet' / 'faster-rcnn_se-r50_fpn_1x_coco.py'
# The one config that trains from scratch on purpose (``init_cfg=None``).
TOY = REPO / 'configs' / 'toy' / 'faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py'


def test_cfg_options_fill_an_init_cfg_that_is_none():
    """The command line that mmengine refused: init_cfg is None in the
    toy config, which trains from scratch."""
    assert load_config(str(TOY)).model.backbone.init_cfg is None
    cfg = load_config(
        str(TOY), {
            'model.backbone.init_cfg.type': 'Pretrained',
            'model.backbone.init_cfg.checkpoint': 'timm://seresnet50.a1_in1k'
        })
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='timm://seresnet50.a1_in1k')
    assert cfg.model.backbone.depth == 18


def test_cfg_options_still_merge_into_dicts():
    cfg = load_config(str(GENERIC), {'model.backbone.frozen_stages': 2})
    assert cfg.model.backbone.frozen_stages == 2
    assert cfg.model.backbone.type == 'SEResNet'
