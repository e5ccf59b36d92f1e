# PaddleDetection's strongest public SE recipe: SENet-154-vd Cascade Mask
# R-CNN FPN with DCNv2 in stages 3-5, GroupNorm in the FPN and the heads,
# multi-scale training (51.9 box / 43.9 mask AP on COCO val2017,
# PaddleDetection 0.x configs/dcn/README.md and
# configs/dcn/cascade_mask_rcnn_dcnv2_se154_vd_fpn_gn_s1x.yml; not trained
# here).
#
# Its backbone ("std_senet") is the original SENet-154 (halved first 1x1,
# 3x3 projection shortcuts, 64-64-128 deep stem, padded stem max-pool), so
# SENet154 with stem_pool='pytorch'. PaddleDetection started it from
# SENet154_vd_caffe_pretrained.tar, in Paddle's static-graph format, which
# this package does not read; the readable weights of the same
# architecture and stem are Gluon's SENet-154 (timm's senet154.gluon_in1k,
# RGB input with ImageNet mean/std, MMDetection's default normalisation).
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    './_base_/schedule_paddledet-s1x.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/safe_runtime.py',
]
norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)


def gn_bbox_head(target_stds):
    """A cascade stage's head with 4 GN convs and 1 FC (PaddleDetection's
    CascadeXConvNormHead)."""
    return dict(
        type='Shared4Conv1FCBBoxHead',
        in_channels=256,
        conv_out_channels=256,
        fc_out_channels=1024,
        norm_cfg=norm_cfg,
        roi_feat_size=7,
        num_classes=80,
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0., 0., 0., 0.],
            target_stds=target_stds),
        reg_class_agnostic=True,
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))


model = dict(
    backbone=dict(
        _delete_=True,
        type='SENet154',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        stem_pool='pytorch',
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True),
        init_cfg=dict(
            type='Pretrained', checkpoint='timm://senet154.gluon_in1k')),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        # MMDetection's cascade stages' target stds (its cascade configs').
        bbox_head=[
            gn_bbox_head([0.1, 0.1, 0.2, 0.2]),
            gn_bbox_head([0.05, 0.05, 0.1, 0.1]),
            gn_bbox_head([0.033, 0.033, 0.067, 0.067]),
        ],
        mask_head=dict(norm_cfg=norm_cfg)))

# Short side one of 416, 448, ..., 1408, long side at most 1600.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1600, short) for short in range(416, 1409, 32)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(
    batch_size=1,
    sampler=dict(type='InfiniteSampler'),
    dataset=dict(pipeline=train_pipeline))

# 300k iterations of 8 images, warm-up from 0.01x over 2000, divided by 10
# at 240k and 280k.
max_iters = 300000
train_cfg = dict(max_iters=max_iters)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
        end=2000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[240000, 280000],
        gamma=0.1)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10000))
log_processor = dict(by_epoch=False)
