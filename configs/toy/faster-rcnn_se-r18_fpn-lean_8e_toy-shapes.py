# The embedded default (`make demo`): Faster R-CNN with an SE-ResNet-18 FPN
# trained from scratch on the generated toy shapes (senet_mmdet/datasets/
# toy.py), small enough to learn on a 2-core CPU in minutes. Everything not
# set here is MMDetection's Faster R-CNN R-50 FPN 1x config.
#   make demo, or
#   python tools/train.py \
#       configs/toy/faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    '../_base_/safe_runtime.py'
]

data_root = 'data/toy_shapes/'
image_size = 256
# Toy shapes are 28-96 px, so the FPN stops at stride 32 (4 levels) and its
# width drops from 256 to 64: at 256 channels the stride-4 3x3 convs alone
# cost several times the backbone on a CPU.
fpn_channels = 64
fpn_strides = [4, 8, 16, 32]

model = dict(
    backbone=dict(
        type='SEResNet',
        depth=18,
        # From scratch, on purpose (unlike every COCO config, which starts
        # from ImageNet SE weights): `make demo` must run offline, where no
        # weights can be downloaded, ImageNet features would not help
        # coloured shapes, and the plain twin starts from scratch too.
        # Every stage trains, and BatchNorm learns its statistics.
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(
        in_channels=[64, 128, 256, 512],
        out_channels=fpn_channels,
        num_outs=len(fpn_strides)),
    rpn_head=dict(
        in_channels=fpn_channels,
        feat_channels=fpn_channels,
        anchor_generator=dict(strides=fpn_strides)),
    roi_head=dict(
        bbox_roi_extractor=dict(
            out_channels=fpn_channels, featmap_strides=fpn_strides),
        bbox_head=dict(
            in_channels=fpn_channels,
            fc_out_channels=256,
            num_classes=3)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        type='ToyShapesDataset',
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        type='ToyShapesDataset',
        data_root=data_root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs // 2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=100),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.00001,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.001, weight_decay=0.05),
    clip_grad=dict(max_norm=10.0))
# The learning rate above is for the batch of 8 in one process, so that
# --auto-scale-lr, which every documented training passes, keeps it there.
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs // 2, max_keep_ckpts=1))
# A fixed seed makes the demo's AP repeatable on the same machine.
randomness = dict(seed=0)
