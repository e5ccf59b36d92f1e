"""tools/deployment/deploy.py: the whole detector through mmdeploy to
onnxruntime, on both tested stacks (make test: torch 2.13, with mmdeploy's
shims; make test-torch21: torch 2.1, every config family)."""
import argparse
import json
import sys
from pathlib import Path

import pytest
import torch

from .utils import REPO, TOOLS, load_tool, python_tool, run

DEPLOY = TOOLS / 'deployment' / 'deploy.py'


def test_without_mmdeploy_the_error_names_the_install(monkeypatch):
    tool = load_tool(DEPLOY)
    monkeypatch.setitem(sys.modules, 'mmdeploy', None)
    with pytest.raises(tool.DeployError) as error:
        tool.require_mmdeploy()
    assert 'mmdeploy is not installed' in str(error.value)
    assert 'pip install --no-deps mmdeploy==1.3.1' in str(error.value)


def test_matching_needs_label_box_and_score_within_bounds():
    import numpy as np
    tool = load_tool(DEPLOY)
    reference = dict(
        boxes=np.array([[10., 10., 50., 50.], [0., 0., 5., 5.]]),
        scores=np.array([0.9, 0.2]), labels=np.array([1, 2]))
    close = dict(
        boxes=np.array([[10.5, 10., 50., 50.]]), scores=np.array([0.895]),
        labels=np.array([1]))
    result = tool.unmatched_and_differences(
        reference, close, floor=0.3, box_bound=1.0, score_bound=0.01,
        max_kept=100)
    # The 0.2 detection is below the floor and is not looked for.
    assert result == dict(checked=1, missing=[], max_box_diff=0.5,
                          max_score_diff=pytest.approx(0.005),
                          max_mask_diff=None)
    for changed in (dict(labels=np.array([0])),
                    dict(boxes=np.array([[12., 10., 50., 50.]])),
                    dict(scores=np.array([0.8]))):
        result = tool.unmatched_and_differences(
            reference, {**close, **changed}, floor=0.3, box_bound=1.0,
            score_bound=0.01, max_kept=100)
        assert result['missing'] == [0]
    # A candidate cut at max_kept detections lowers what must be found.
    result = tool.unmatched_and_differences(
        reference, dict(boxes=np.zeros((1, 4)), scores=np.array([0.95]),
                        labels=np.array([0])), floor=-np.inf,
        box_bound=1.0, score_bound=0.01, max_kept=1)
    assert result['checked'] == 0


def test_masks_of_matched_detections_are_compared():
    """Mask probabilities (Mask R-CNN's third output) count for export
    parity: a matched pair whose masks differ by more than MASK_BOUND
    fails it, both ways."""
    import numpy as np
    tool = load_tool(DEPLOY)
    masks = np.linspace(0, 1, 2 * 16, dtype=np.float32).reshape(2, 4, 4)
    reference = tool.detections(
        np.array([[10., 10., 50., 50.], [20., 0., 25., 5.]]),
        np.array([0.9, 0.8]), np.array([1, 2]), masks)
    assert reference['masks'].shape == (2, 16)
    close = dict(reference, masks=reference['masks'] + 1e-4)
    result = tool.compare('export', close, reference, -np.inf, 100)
    assert result['same'] and result['masks_same']
    assert result['max_mask_diff'] == pytest.approx(1e-4, rel=1e-2)
    apart = dict(reference, masks=reference['masks'].copy())
    apart['masks'][1, 5] += 2 * tool.MASK_BOUND
    result = tool.compare('export', apart, reference, -np.inf, 100)
    assert not result['same'] and not result['masks_same']
    assert result['missing_in_pytorch'] == result[
        'missing_in_onnxruntime'] == []
    # Boxes only (a detector): no mask difference to report.
    boxes_only = {key: value for key, value in reference.items()
                  if key != 'masks'}
    assert tool.compare('export', boxes_only, reference, -np.inf,
                        100)['max_mask_diff'] is None


def test_a_mask_head_picks_the_instance_segmentation_deploy_config():
    from mmengine.config import Config
    tool = load_tool(DEPLOY)
    folder = REPO / 'configs' / 'senet'
    mask = Config.fromfile(folder / 'mask-rcnn_se-r50_fpn_1x_coco.py')
    boxes = Config.fromfile(folder / 'faster-rcnn_se-r50_fpn_1x_coco.py')
    assert tool.default_deploy_cfg(mask) == tool.INSTANCE_SEG_DEPLOY_CFG
    assert tool.default_deploy_cfg(boxes) == tool.DEPLOY_CFG
    instance_seg = Config.fromfile(tool.INSTANCE_SEG_DEPLOY_CFG)
    assert instance_seg.onnx_config.output_names == ['dets', 'labels',
                                                      'masks']
    assert instance_seg.codebase_config.task == 'ObjectDetection'
    assert not instance_seg.codebase_config.post_processing[
        'export_postprocess_mask']


def export_report(config, checkpoint, images, work_dir, *flags) -> dict:
    weights = [] if checkpoint is None else [checkpoint]
    result = run(
        python_tool('deployment/deploy.py', config, *weights, '--image',
                    *images, '--work-dir', work_dir, '--repeat', 1, *flags),
        work_dir.parent)
    assert 'latency of test_step on the first image' in result.stdout
    report = json.loads((work_dir / 'report.json').read_text())
    assert_standard_operators_only(work_dir / 'end2end.onnx')
    # The tool ran the file in a plain onnxruntime too, without mmdeploy's
    # custom-op library, and got mmdeploy's backend model's outputs.
    assert all(image['plain_onnxruntime']['same']
               for image in report['images'])
    assert 'plain onnxruntime, without mmdeploy' in result.stdout
    return report


def assert_standard_operators_only(onnx_file: Path,
                                   two_stage: bool = True) -> None:
    """Any onnxruntime runs the file: every node is in ONNX's own domain,
    RoIAlign (of a two-stage detector) and NMS included."""
    import onnx
    model = onnx.load(str(onnx_file))
    assert {node.domain for node in model.graph.node} == {''}
    assert {'NonMaxSuppression', *(['RoiAlign'] if two_stage else [])} <= {
        node.op_type for node in model.graph.node}


@pytest.mark.slow
def test_trained_toy_detector_exports_with_detection_parity(
        trained, toy_root, tmp_path):
    import mmcv
    config, checkpoint = trained
    square = sorted((toy_root / 'val').glob('*.png'))[:2]
    # Another size for the same file: the test pipeline fits 192 x 320
    # into 256 x 256.
    wide = tmp_path / 'wide.png'
    mmcv.imwrite(mmcv.imresize(mmcv.imread(str(square[0])), (320, 192)),
                 str(wide))
    report = export_report(config, checkpoint, [*square, wide],
                           tmp_path / 'deploy', '--score-thr', '0')
    shapes = [image['input_shape'][2:] for image in report['images']]
    assert shapes[0] == shapes[1] != shapes[2]
    for image in report['images']:
        export, mmdet = image['comparisons']
        # The test config keeps every detection (score_thr 0): the toy
        # config's max_per_img, 20, each.
        assert export['onnxruntime'] == export['pytorch'] == 20
        assert export['same'] and export['checked'] > 20
        assert export['max_box_diff'] <= 1e-2
        assert export['max_score_diff'] <= 1e-4
        # Reported, not required: mmdeploy's RPN post-processing is not
        # MMDetection's. The report counts what it checked.
        assert mmdet['onnxruntime'] <= 20 and mmdet['pytorch'] <= 20
        assert mmdet['same'] == (not mmdet['missing_in_pytorch']
                                 and not mmdet['missing_in_onnxruntime'])


@pytest.mark.slow
def test_missing_image_is_named(trained, tmp_path):
    config, checkpoint = trained
    result = run(
        python_tool('deployment/deploy.py', config, checkpoint, '--image',
                    tmp_path / 'absent.png'), tmp_path, returncode=2)
    assert f'image {tmp_path}/absent.png does not exist' in result.stderr


@pytest.mark.slow
def test_other_backends_are_refused(trained, toy_root, tmp_path):
    config, checkpoint = trained
    deploy_cfg = tmp_path / 'tensorrt.py'
    deploy_cfg.write_text(
        f"_base_ = '{REPO}/configs/deploy/detection_onnxruntime_dynamic.py'\n"
        "backend_config = dict(type='tensorrt')\n")
    image = sorted((toy_root / 'val').glob('*.png'))[0]
    result = run(
        python_tool('deployment/deploy.py', config, checkpoint, '--image',
                    image, '--deploy-cfg', deploy_cfg),
        tmp_path, returncode=1)
    assert (f'error: deploy-cfg {deploy_cfg}: backend tensorrt; this tool '
            'checks onnxruntime models only') in result.stderr


# One shipped config per family, exported with random weights at small
# sizes (the test pipeline's resize scale lowered), keeping every detection.
SENET = 'senet/'
FAMILIES = {
    'plain, pytorch style': SENET + 'faster-rcnn_r50_fpn_1x_coco.py',
    'plain, caffe style (BGR, std 1)':
        SENET + 'faster-rcnn_r50-caffe_fpn_tpami-table7-2x_coco.py',
    'SE, pytorch style': SENET + 'faster-rcnn_se-r50_fpn_1x_coco.py',
    # The flagship: caffe style, Caffe's stem pool (CaffeMaxPool2d).
    'SE, caffe style, Caffe stem pool': 'faster_rcnn_se_r50.py',
    'SE-ResNeXt': SENET + 'faster-rcnn_se-x50-32x4d_fpn_1x_coco.py',
    'SENet-154': SENET + 'faster-rcnn_senet154-legacy_fpn_1x_coco.py',
    'RetinaNet': SENET + 'retinanet_se-r50_fpn_1x_coco.py',
    'Mask R-CNN': SENET + 'mask-rcnn_se-r50_fpn_1x_coco.py',
}
# Every family on torch 2.1, the stack mmdeploy 1.3.1 is built for (make
# test-torch21); on torch 2.13 the three whose exports take deploy.py's
# other paths: the Caffe stem pool, the one-stage head's random
# initialisation and the masks. The other five differ in the backbone
# only (plain ResNet, SE-ResNet without the Caffe pool, SE-ResNeXt's
# grouped convolutions, SENet-154's stem), which export to the same
# standard operators; the whole detector of those is exported on torch 2.1.
FAMILIES_ON_THIS_STACK = FAMILIES if torch.__version__ < (2, 2) else {
    name: FAMILIES[name]
    for name in ('SE, caffe style, Caffe stem pool', 'RetinaNet',
                 'Mask R-CNN')
}
# The resize scale (width, height) and two image sizes (height, width):
# one file exported at the first runs at both.
SMALL_SCALE = (128, 96)
IMAGE_SIZES = [(96, 128), (64, 160)]


def small_export_options(config) -> dict:
    """--cfg-options for a small, every-detection export of ``config``."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    # mmdeploy builds its inputs with the config's test_pipeline.
    resize = next(index for index, step in enumerate(cfg.test_pipeline)
                  if step['type'] == 'Resize')
    options = {
        f'test_pipeline.{resize}.scale': SMALL_SCALE
    }
    test_cfg = cfg.model.test_cfg
    options['model.test_cfg.' + ('rcnn.' if 'rcnn' in test_cfg else '') +
            'score_thr'] = 0.0
    return options


@pytest.mark.slow
@pytest.mark.parametrize('config', FAMILIES_ON_THIS_STACK.values(),
                         ids=FAMILIES_ON_THIS_STACK.keys())
def test_every_config_family_exports_with_parity(config, tmp_path):
    """Export parity on every detection, the plain onnxruntime check and
    standard operators only, for one file run at two input sizes."""
    import mmcv
    import numpy as np
    tool = load_tool(DEPLOY)
    path = REPO / 'configs' / config
    images = []
    for height, width in IMAGE_SIZES:
        image = tmp_path / f'{height}x{width}.png'
        mmcv.imwrite(
            np.random.default_rng(height).integers(
                0, 256, (height, width, 3), dtype=np.uint8), str(image))
        images.append(str(image))
    args = argparse.Namespace(
        config=str(path), checkpoint=None, image=images,
        deploy_cfg=None, work_dir=str(tmp_path / 'deploy'),
        score_thr=0.3, cfg_options=small_export_options(path), repeat=1)
    report = tool.deploy(args)
    # Fitted into 128 x 96 and padded to a multiple of 32.
    assert [image['input_shape'] for image in report['images']] == [
        [1, 3, 96, 128], [1, 3, 64, 128]]
    for image in report['images']:
        export, _ = image['comparisons']
        assert export['same'] and export['checked'] > 0, export
        assert image['plain_onnxruntime']['same']
        # Mask R-CNN: its masks are the third output, checked too.
        masked = 'mask-rcnn' in config
        assert (export['max_mask_diff'] is not None) == masked
    if 'mask-rcnn' in config:
        assert report['deploy_cfg'] == tool.INSTANCE_SEG_DEPLOY_CFG
    assert_standard_operators_only(Path(report['onnx']),
                                   two_stage='retinanet' not in config)


def test_custom_operators_are_named(tmp_path):
    """A file with mmdeploy's deformable convolution (the mdconv configs)
    cannot run in a plain onnxruntime: the tool names the operator instead
    of failing to load the file."""
    import onnx
    from onnx import TensorProto, helper
    tool = load_tool(DEPLOY)
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node('Relu', ['x'], ['y']),
         helper.make_node('MMCVModulatedDeformConv2d', ['y'], ['z'],
                          domain='mmdeploy')], 'g',
        [value('x', TensorProto.FLOAT, [1])],
        [value('z', TensorProto.FLOAT, [1])])
    path = tmp_path / 'custom.onnx'
    onnx.save(helper.make_model(graph), str(path))
    assert tool.custom_operators(str(path)) == [
        'mmdeploy:MMCVModulatedDeformConv2d']
    standard = tmp_path / 'standard.onnx'
    onnx.save(helper.make_model(helper.make_graph(
        graph.node[:1], 'g', [value('x', TensorProto.FLOAT, [1])],
        [value('y', TensorProto.FLOAT, [1])])), str(standard))
    assert tool.custom_operators(str(standard)) == []


def test_a_file_with_custom_operators_fails_naming_them(
        tmp_path, monkeypatch, capsys):
    """Parity held, but the file needs mmdeploy's library: exit 1 with the
    operator and how to run it, the parity table printed before."""
    tool = load_tool(DEPLOY)
    row = dict(comparison='export', onnxruntime=2, pytorch=2, checked=2,
               missing_in_pytorch=[], missing_in_onnxruntime=[],
               max_box_diff=0.0, max_score_diff=0.0, max_mask_diff=0.0,
               masks_same=True, same=True)
    report = dict(
        onnx=str(tmp_path / 'end2end.onnx'), torch_version='x',
        custom_operators=['mmdeploy:MMCVModulatedDeformConv2d'],
        images=[dict(image='a.png', input_shape=[1, 3, 96, 128],
                     comparisons=[row, dict(row, comparison='mmdet')],
                     plain_onnxruntime=None)],
        torch_seconds=1.0, onnxruntime_seconds=0.5)
    monkeypatch.setattr(tool, 'require_mmdeploy', lambda: None)
    monkeypatch.setattr(tool, 'deploy', lambda args: report)
    config, image = tmp_path / 'config.py', tmp_path / 'a.png'
    config.write_text('')
    image.write_bytes(b'')
    monkeypatch.setattr(sys, 'argv', [
        'deploy.py', str(config), '--image', str(image), '--work-dir',
        str(tmp_path)])
    assert tool.main() == 1
    out, err = capsys.readouterr()
    assert 'export parity): 2 of 2 checked detections the same' in out
    assert ('not run, the file holds mmdeploy:MMCVModulatedDeformConv2d'
            in out)
    assert ('holds operators of mmdeploy\'s custom-op library '
            '(mmdeploy:MMCVModulatedDeformConv2d)') in err
    assert 'register_custom_ops_library' in err


def test_random_heads_fetch_no_pretrained_weights():
    """A C4 detector's shared head (SE-ResNet's conv5) names ImageNet
    weights of its own; random weights for export leave it at PyTorch's
    default, as the backbone, instead of fetching them (offline here: it
    would raise)."""
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    tool = load_tool(DEPLOY)
    cfg = Config.fromfile(REPO / 'configs' / 'senet' /
                          'faster-rcnn_se-r50-caffe-c4_cvpr-basic_coco-2014.py')
    model = MODELS.build(cfg.model)
    shared_head = model.roi_head.shared_head
    assert shared_head.init_cfg['type'] == 'Pretrained'
    before = next(shared_head.parameters()).clone()
    tool.init_heads(model)
    assert shared_head.init_cfg is None
    assert next(shared_head.parameters()).equal(before)
    # The rest of the RoI head is initialised as MMDetection does.
    assert model.roi_head.bbox_head.fc_cls.weight.std() < 0.02


def test_random_weights_are_scaled_to_the_configs_input():
    """The first conv of a random detector is scaled by the config's std
    over ImageNet's pixel std: untouched for MMDetection's RGB mean/std,
    1/57-1/58 per channel for the Caffe configs' BGR pixels with std 1."""
    import torch
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    tool = load_tool(DEPLOY)
    folder = REPO / 'configs' / 'senet'
    for config, factors in [
        ('faster-rcnn_se-r50-caffe_fpn_tpami-table7-2x_coco.py',
         [1.0, 1.0, 1.0]),
        ('faster-rcnn_r50-caffe_fpn_tpami-table7-2x_coco.py',
         [1 / 57.375, 1 / 57.12, 1 / 58.395]),
    ]:
        cfg = Config.fromfile(folder / config)
        model = MODELS.build(cfg.model)
        before = model.backbone.conv1.weight.clone()
        tool.scale_stem_to_input(model, cfg.model.data_preprocessor)
        torch.testing.assert_close(
            model.backbone.conv1.weight,
            before * torch.tensor(factors).view(1, 3, 1, 1))
