# Protocol of the SE paper's conference version (CVPR 2018), plain baseline:
# the ResNet paper's "basic Faster R-CNN" (He et al., arXiv 1512.03385,
# appendix A): RPN and RoI pooling on conv4, conv5 as the RoI head (C4).
# Trained on COCO 2014 train (80k images), evaluated on the 2014 validation
# set (40k), shorter side 600 (longer at most 1000), 8 GPUs x 1 image,
# lr 0.001 for 240k iterations then 0.0001 for 80k.
# Paper: R-50 25.1 AP, 45.2 AP50.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50-caffe_c4-1x_coco.py',
    '../_base_/safe_runtime.py'
]

image_scale = (1000, 600)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=1,
    dataset=dict(
        ann_file='annotations/instances_train2014.json',
        data_prefix=dict(img='train2014/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        ann_file='annotations/instances_val2014.json',
        data_prefix=dict(img='val2014/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=_base_.data_root + 'annotations/instances_val2014.json')
test_evaluator = val_evaluator

max_iter = 320000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iter,
    val_interval=40000)
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iter,
        by_epoch=False,
        milestones=[240000],
        gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(lr=0.001))
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=40000))
log_processor = dict(by_epoch=False)
