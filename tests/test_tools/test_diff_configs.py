"""tools/analysis/diff_configs.py --se-twin: the pairs the speed figures
compare differ in SE only, and a pair that differs otherwise is named."""
from .utils import REPO, tool_in_process

SENET = REPO / 'configs' / 'senet'
SE_TPAMI = SENET / 'faster-rcnn_se-r50-caffe_fpn_tpami-table7-2x_coco.py'
PLAIN_TPAMI = SENET / 'faster-rcnn_r50-caffe_fpn_tpami-table7-2x_coco.py'
TWIN_TPAMI = (REPO / 'configs' / 'deploy' / 'twins' /
              'faster-rcnn_r50-caffe-caffepool_fpn_tpami-table7-2x_coco.py')


def test_deployment_twin_differs_in_se_only():
    result = tool_in_process('analysis/diff_configs.py', TWIN_TPAMI,
                             SE_TPAMI, '--se-twin', cwd=REPO)
    assert result.returncode == 0, result.stderr
    *differences, verdict = result.stdout.splitlines()
    assert verdict == 'SE twins: they differ in SE only'
    # SE off, and no ImageNet weights (none exist with the Caffe pool).
    assert [line.split(':')[0] for line in differences] == [
        'model.backbone.init_cfg', 'model.backbone.init_cfg.checkpoint',
        'model.backbone.init_cfg.type', 'model.backbone.stage_with_se'
    ]


def test_plain_protocol_config_is_not_a_speed_twin():
    """The TPAMI protocol's plain baseline pools the stem with padding and
    takes BGR input: timed against it, SE would pay for the Caffe pool."""
    result = tool_in_process('analysis/diff_configs.py', PLAIN_TPAMI,
                             SE_TPAMI, '--se-twin', cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        'error: not SE twins; they also differ in '
        'model.backbone.stem_pool, model.data_preprocessor.bgr_to_rgb, '
        'model.data_preprocessor.mean, model.data_preprocessor.std')
