import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from senet_mmdet.apis import config_diff
from senet_mmdet.checkpoints import (FORMAT_TABLE, PretrainedMismatchError,
                                     convert_state_dict)
from senet_mmdet.checkpoints.loading import check_conventions
from senet_mmdet.models import SEResNet

REPO = Path(__file__).parents[2]
FLAGSHIP = REPO / 'configs' / 'faster_rcnn_se_r50.py'
# Model configs; configs/deploy holds mmdeploy's deploy configs, which
# tests/test_tools/test_mmdeploy.py uses, and _base_ folders the pieces
# that model configs are made of.
CONFIGS = sorted(
    path for path in (REPO / 'configs').rglob('*.py')
    if not {'deploy', '_base_'} & set(path.relative_to(REPO).parts))


SE_BACKBONES = ('SEResNet', 'SEResNeXt', 'SENet154')


def root_base(path: Path) -> str:
    """The first base outside this repository, following local and
    ``senet_mmdet::`` (this repository's configs/) ``_base_``."""
    base = Config._get_base_files(str(path))[0]
    if base.startswith('senet_mmdet::'):
        return root_base(REPO / 'configs' / base.split('::', 1)[1])
    if '::' in base:
        return base
    return root_base((path.parent / base).resolve())


def test_every_config_is_checked_here():
    assert len(CONFIGS) == 38


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[str(p.relative_to(REPO)) for p in CONFIGS])
def test_config_inherits_mmdet_and_runs_loss_and_predict(path):
    assert root_base(path).startswith('mmdet::')
    cfg = Config.fromfile(path)
    with_se = cfg.model.backbone.type in SE_BACKBONES
    # Every config, plain baselines too, trains safely under MMDetection's
    # own tools: configs/_base_/safe_runtime.py.
    assert cfg.custom_imports.imports == ['senet_mmdet']
    assert cfg.runner_type == 'SafeRunner'
    checkpoint = cfg.default_hooks.checkpoint
    own_hook = checkpoint.type == 'AtomicCheckpointHook'
    if not with_se:
        assert cfg.model.backbone.type == 'ResNet'
    # Every epoch-based COCO config writes a mid-epoch checkpoint every
    # 1000 iterations (configs/faster_rcnn_se_r50.py says why).
    epoch_based = cfg.train_cfg.get('type', 'EpochBasedTrainLoop') == (
        'EpochBasedTrainLoop')
    if epoch_based and 'coco' in path.name:
        assert own_hook and checkpoint.mid_epoch_interval == 1000
    # Fewer RoIs than COCO training samples and test proposals keep the
    # C4 heads (conv5 on every RoI) quick on a CPU; nothing else changes.
    rcnn = cfg.model.get('train_cfg', {}).get('rcnn', {})
    # A cascade has one rcnn stage config per stage.
    for stage in rcnn if isinstance(rcnn, list) else [rcnn]:
        if stage.get('sampler'):
            stage.sampler.num = 16
    test_rpn = cfg.model.get('test_cfg', {}).get('rpn', {})
    if test_rpn.get('max_per_img'):
        test_rpn.max_per_img = 16
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == cfg.model.backbone.type
    num_classes = cfg.model.roi_head.bbox_head.num_classes if (
        'roi_head' in cfg.model and isinstance(
            cfg.model.roi_head.bbox_head, dict)) else 80
    with_mask = 'mask_head' in cfg.model.get('roi_head', {})
    packed = demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 128, 160)] * 2,
        # demo_mm_inputs draws labels 1 .. num_classes - 1; a one-class
        # head (the trees example) gets label 1, its background index,
        # which still runs every loss.
        num_classes=max(num_classes, 2),
        with_mask=with_mask)

    model.train()
    losses = model(**model.data_preprocessor(packed, True), mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    # A cascade names each stage's losses (s0.loss_mask, ...).
    assert any(key.endswith('loss_mask') for key in losses) == with_mask
    model.eval()
    with torch.no_grad():
        results = model(
            **model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 2
    for result in results:
        assert result.pred_instances.bboxes.shape[1] == 4
        assert ('masks' in result.pred_instances) == with_mask


# (plain baseline, SE config): they differ in the backbone only.
PAIRS = [(f'faster-rcnn_{depth}_{rest}', f'faster-rcnn_se-{depth}_{rest}')
         for depth in ('r50', 'r101')
         for rest in ('fpn_1x_coco', 'fpn_2x_coco')] + [
             (f'faster-rcnn_{depth}-caffe_{rest}',
              f'faster-rcnn_se-{depth}-caffe_{rest}')
             for depth in ('r50', 'r101')
             for rest in ('fpn_tpami-table7-2x_coco', )
         ] + [(f'faster-rcnn_{depth}-caffe-c4_cvpr-basic_coco-2014',
               f'faster-rcnn_se-{depth}-caffe-c4_cvpr-basic_coco-2014')
              for depth in ('r50', 'r101')]
PREPROCESSOR_KEYS = {'model.data_preprocessor.mean',
                     'model.data_preprocessor.std',
                     'model.data_preprocessor.bgr_to_rgb'}


@pytest.mark.parametrize('plain, se', PAIRS, ids=[se for _, se in PAIRS])
def test_se_config_differs_from_its_baseline_in_the_backbone_only(plain, se):
    """The backbone and its weights; the input normalisation only where
    those weights need another one (the caffe-style protocols' plain
    ResNets take BGR, the SE weights RGB)."""
    folder = REPO / 'configs' / 'senet'
    se_cfg = Config.fromfile(folder / f'{se}.py')
    differences = config_diff(
        Config.fromfile(folder / f'{plain}.py').to_dict(), se_cfg.to_dict())
    keys = {key for key, _, _ in differences}
    parts = ('model.backbone.', 'custom_imports.') + (
        ('model.roi_head.shared_head.', ) if 'c4' in se else ())
    other = {key for key in keys if not key.startswith(parts)}
    assert other <= PREPROCESSOR_KEYS
    if other:
        # What the official SE weights (timm's legacy_* ports) need.
        checkpoint = se_cfg.model.backbone.init_cfg.checkpoint
        assert checkpoint.startswith('timm://legacy_seresnet')
        needed = FORMAT_TABLE['legacy'].conventions(
            dict(type='SEResNet'), None).data_preprocessor
        preprocessor = se_cfg.model.data_preprocessor
        assert dict(mean=preprocessor.mean, std=preprocessor.std,
                    bgr_to_rgb=preprocessor.bgr_to_rgb) == needed
    assert ('model.backbone.type', 'ResNet', 'SEResNet') in differences
    assert 'model.backbone.init_cfg.checkpoint' in keys


TOY = REPO / 'configs' / 'toy'
TOY_PLAIN = TOY / 'faster-rcnn_r18_fpn-lean_8e_toy-shapes.py'
TOY_SE = TOY / 'faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py'


def test_toy_plain_twin_differs_in_the_backbone_type_only():
    differences = config_diff(
        Config.fromfile(TOY_PLAIN).to_dict(),
        Config.fromfile(TOY_SE).to_dict())
    assert differences == [('model.backbone.type', 'ResNet', 'SEResNet')]


def init_kind(name: str, value: torch.Tensor) -> tuple:
    """How a freshly initialised tensor was drawn: its value if constant,
    else ('random', std) for a random draw."""
    if torch.all(value == value.flatten()[0]):
        return ('constant', float(value.flatten()[0]))
    return ('random', float(value.std()))


def test_toy_plain_twin_is_initialised_like_the_se_detector():
    """The comparison must measure SE, not initialisation: every tensor the
    two detectors share starts the same way (constants equal, including
    the zero-initialised last norm of each block; random draws from the
    same distribution), and only the SE modules are extra."""
    init_default_scope('mmdet')
    detectors = {}
    for path in (TOY_PLAIN, TOY_SE):
        torch.manual_seed(0)
        model = MODELS.build(Config.fromfile(path).model)
        model.init_weights()
        detectors[path] = dict(model.state_dict())
    plain, se = detectors[TOY_PLAIN], detectors[TOY_SE]
    assert {key for key in se.keys() - plain.keys()
            if '.se.' not in key} == set()
    assert plain.keys() <= se.keys()
    zero_init = 0
    for key, value in plain.items():
        if value.dtype != torch.float32:
            continue
        kind, level = init_kind(key, value)
        se_kind, se_level = init_kind(key, se[key])
        assert kind == se_kind, key
        if kind == 'constant':
            assert level == se_level, key
            zero_init += key.endswith('.bn2.weight') and level == 0.0
        else:
            # Same distribution: the standard deviations of two draws of
            # at least 576 values agree within 15 %.
            assert se_level == pytest.approx(level, rel=0.15), key
    # Every basic block of ResNet-18 starts as identity in both.
    assert zero_init == 8


def test_protocol_configs_follow_the_paper():
    folder = REPO / 'configs' / 'senet'
    table7 = Config.fromfile(
        folder / 'faster-rcnn_se-r50-caffe_fpn_tpami-table7-2x_coco.py')
    assert table7.train_cfg.max_iters == 180_000
    assert table7.param_scheduler[1].milestones == [120_000, 160_000]
    assert table7.train_dataloader.batch_size * 8 == 16
    assert table7.optim_wrapper.optimizer.lr == 0.02
    assert table7.model.backbone.style == 'caffe'
    assert table7.train_dataloader.dataset.ann_file.endswith('train2017.json')
    assert table7.val_evaluator.ann_file.endswith('val2017.json')
    resize = table7.train_dataloader.dataset.pipeline[2]
    assert (resize.type, resize.scale, resize.keep_ratio) == ('Resize',
                                                              (1333, 800),
                                                              True)

    c4 = Config.fromfile(
        folder / 'faster-rcnn_se-r50-caffe-c4_cvpr-basic_coco-2014.py')
    assert c4.model.backbone.num_stages == 3
    assert c4.model.roi_head.shared_head.type == 'SEResLayer'
    assert c4.train_cfg.max_iters == 320_000
    assert c4.param_scheduler[0].milestones == [240_000]
    assert c4.optim_wrapper.optimizer.lr == 0.001
    assert c4.val_evaluator.ann_file.endswith('instances_val2014.json')
    assert c4.train_dataloader.dataset.pipeline[2].scale == (1000, 600)


def test_mask_rcnn_config_evaluates_bbox_and_segm():
    cfg = Config.fromfile(REPO / 'configs' / 'senet' /
                          'mask-rcnn_se-r50_fpn_1x_coco.py')
    assert cfg.val_evaluator.metric == ['bbox', 'segm']


def test_flagship_inherits_mmdet_faster_rcnn():
    assert Config._get_base_files(str(FLAGSHIP)) == [
        'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
        './_base_/safe_runtime.py'
    ]
    cfg = Config.fromfile(FLAGSHIP)
    # Everything but the backbone type and init is MMDetection's R-50 FPN 1x.
    assert cfg.model.type == 'FasterRCNN'
    assert cfg.model.backbone.depth == 50
    assert cfg.model.backbone.frozen_stages == 1
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='timm://legacy_seresnet50.in1k')
    assert cfg.model.neck.type == 'FPN'
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.optim_wrapper.optimizer.lr == 0.02


def test_flagship_loss_and_predict_on_cpu():
    torch.manual_seed(0)
    init_default_scope('mmdet')
    cfg = Config.fromfile(FLAGSHIP)
    # Random weights: none can be downloaded here (test_pretrained.py loads
    # stand-ins of the ImageNet weights the config names).
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert sum(p.numel() for p in model.backbone.parameters()) == 26_039_024
    packed = demo_mm_inputs(
        batch_size=2, image_shapes=[(3, 128, 160)] * 2, num_classes=80)

    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    assert {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox'} <= set(
        losses)
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    # The SE modules are in the graph (stage 1 is frozen by the config).
    assert model.backbone.layer2[0].se.fc1.weight.grad is not None
    assert model.backbone.layer1[0].se.fc1.weight.grad is None

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(packed, False)
        results = model(**data, mode='predict')
    assert len(results) == 2
    for result in results:
        instances = result.pred_instances
        assert instances.bboxes.shape[1] == 4
        assert len(instances.scores) == len(instances.labels) <= 100


def test_user_config_inherits_senet_mmdet_scope(tmp_path):
    """A user's config inherits ours by package scope and builds as the
    Runner builds it: from mmengine's root registry under the tagged scope."""
    user_cfg = tmp_path / 'my_faster_rcnn_se_r101.py'
    user_cfg.write_text(
        "_base_ = 'senet_mmdet::senet/faster-rcnn_se-r50_fpn_1x_coco.py'\n"
        "model = dict(backbone=dict(depth=101))\n")
    cfg = Config.fromfile(user_cfg)
    assert cfg.model.backbone.type == 'SEResNet'
    assert cfg.model.backbone.depth == 101
    init_default_scope(cfg.default_scope)
    model = MMENGINE_MODELS.build(cfg.model)
    assert isinstance(model.backbone, SEResNet)
    assert len(model.backbone.layer3) == 23


def test_readme_other_se_weights_config_fits_them(tmp_path):
    """docs/configs_and_weights.md, "Quick start": the flagship started
    from timm's own SE-ResNet-50 takes the conventions those weights
    record."""
    user_cfg = tmp_path / 'faster-rcnn_se-r50-timm-weights_fpn_1x_coco.py'
    user_cfg.write_text(
        "_base_ = 'senet_mmdet::senet/faster-rcnn_se-r50_fpn_1x_coco.py'\n"
        'model = dict(backbone=dict(\n'
        "    style='pytorch', stem_pool='pytorch',\n"
        "    init_cfg=dict(checkpoint='timm://seresnet50.a1_in1k')))\n")
    assert user_cfg.read_text() in (
        REPO / 'docs' / 'configs_and_weights.md').read_text()
    cfg = Config.fromfile(user_cfg)
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='timm://seresnet50.a1_in1k')
    _, conventions = convert_state_dict(
        timm.create_model('seresnet50').state_dict())
    preprocessor = cfg.model.data_preprocessor
    assert dict(mean=preprocessor.mean, std=preprocessor.std,
                bgr_to_rgb=preprocessor.bgr_to_rgb) == \
        conventions.data_preprocessor
    init_default_scope(cfg.default_scope)
    backbone = MMENGINE_MODELS.build(cfg.model.backbone)
    check_conventions(backbone, conventions, 'timm://seresnet50.a1_in1k')
    # The flagship as it is would be refused, naming what to set.
    flagship = MMENGINE_MODELS.build(Config.fromfile(FLAGSHIP).model.backbone)
    with pytest.raises(PretrainedMismatchError, match="style='pytorch'"):
        check_conventions(flagship, conventions, 'timm://seresnet50.a1_in1k')


@pytest.mark.slow
def test_configs_ship_inside_built_wheel(tmp_path):
    """After `pip install` (not editable) the configs live in
    senet_mmdet/.mim/configs and `senet_mmdet::` bases resolve there."""
    pip = [sys.executable, '-m', 'pip']
    subprocess.run(
        pip + ['wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
               str(tmp_path / 'dist'), str(REPO)],
        check=True, cwd=tmp_path)
    (wheel, ) = (tmp_path / 'dist').glob('senet_mmdet-*.whl')
    site = tmp_path / 'site'
    subprocess.run(
        pip + ['install', '--no-deps', '-q', '--target', str(site),
               str(wheel)],
        check=True)
    shipped = site / 'senet_mmdet' / '.mim' / 'configs'
    assert (shipped / 'faster_rcnn_se_r50.py').is_file()
    assert (shipped / 'senet' / 'faster-rcnn_se-r50_fpn_1x_coco.py').is_file()

    user_cfg = tmp_path / 'user.py'
    user_cfg.write_text(
        "_base_ = 'senet_mmdet::senet/faster-rcnn_se-r50_fpn_1x_coco.py'\n")
    script = (
        'import senet_mmdet\n'
        'from mmengine.config import Config\n'
        f'cfg = Config.fromfile({str(user_cfg)!r})\n'
        'print(senet_mmdet.__file__)\n'
        'print(cfg.model.backbone.type)\n')
    out = subprocess.run([sys.executable, '-c', script],
                         cwd=tmp_path,
                         env={'PYTHONPATH': str(site), 'PATH': '/usr/bin'},
                         check=True,
                         capture_output=True,
                         text=True).stdout.splitlines()
    assert out[0].startswith(str(site))
    assert out[1] == 'SEResNet'


@pytest.mark.slow
def test_custom_imports_alone_lets_mmdet_runner_build_the_flagship(tmp_path):
    """MMDetection's Runner, in a process that never imports senet_mmdet
    itself, builds the SE detector through the config's custom_imports."""
    script = (
        'import sys\n'
        'from mmengine.config import Config\n'
        'from mmengine.runner import Runner\n'
        'assert "senet_mmdet" not in sys.modules\n'
        f'cfg = Config.fromfile({str(FLAGSHIP)!r})\n'
        f'cfg.work_dir = {str(tmp_path / "work")!r}\n'
        'runner = Runner.from_cfg(cfg)\n'
        'print(type(runner.model.backbone).__name__)\n')
    result = subprocess.run([sys.executable, '-c', script],
                            cwd=tmp_path,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == 'SEResNet'


@pytest.mark.parametrize('path', [
    path for path in CONFIGS if path.parent.name in ('toy', 'trees')],
    ids=lambda path: path.name)
def test_cpu_configs_name_their_own_batch_as_the_learning_rate_base(path):
    """The docs pass --auto-scale-lr on every training; on these
    one-process CPU configs it must keep the rate their recipe was tuned
    for, so their base batch is the batch they train with."""
    cfg = Config.fromfile(str(path))
    assert cfg.auto_scale_lr.base_batch_size == \
        cfg.train_dataloader.batch_size == 8
