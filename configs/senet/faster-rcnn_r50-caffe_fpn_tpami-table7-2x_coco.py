# Protocol of the SE paper's journal version (TPAMI 2019), Table 7, plain
# baseline: Faster R-CNN FPN with Detectron's hyper-parameters. Caffe-style
# ResNet with frozen BatchNorm, trained on train2017 (= trainval35k) and
# evaluated on val2017 (= minival) at 800/1333; Detectron's "2x": batch 16,
# lr 0.02, 180k iterations, steps at 120k and 160k, 500-iteration linear
# warm-up from 1/3. Paper: R-50 38.0 AP, 57.9 AP50.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50-caffe_fpn_90k_coco.py',
    '../_base_/safe_runtime.py'
]

max_iter = 180000
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1.0 / 3,
        by_epoch=False,
        begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iter,
        by_epoch=False,
        milestones=[120000, 160000],
        gamma=0.1)
]
train_cfg = dict(max_iters=max_iter, val_interval=20000)
default_hooks = dict(checkpoint=dict(interval=20000))
