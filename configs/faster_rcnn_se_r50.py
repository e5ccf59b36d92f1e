# Faster R-CNN, SE-ResNet-50 FPN, 1x schedule, COCO 2017: MMDetection's
# R-50 FPN config with its backbone swapped for SE-ResNet-50 (r = 16),
# started, as the paper's detectors were, from the official ImageNet
# SE-ResNet-50 (the Caffe release) as ported to PyTorch by Cadene and
# hosted by timm: legacy_seresnet50, 77.65 % top-1 in timm's table (the
# release: 77.63 %). Those weights take the
# stride on the first 1x1 (caffe style) and Caffe's unpadded ceil-mode stem
# pool; their input is RGB with the ImageNet mean/std, MMDetection's R-50
# data preprocessor. Beside the backbone, it differs from MMDetection's
# config only in the checkpoint hook (a mid-epoch checkpoint, below), which
# the plain baseline configs/senet/faster-rcnn_r50_fpn_1x_coco.py shares.
# Train: python tools/train.py configs/faster_rcnn_se_r50.py
# Offline: download the weights (the error says from where) and add
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    './_base_/safe_runtime.py'
]

model = dict(
    backbone=dict(
        type='SEResNet',
        se_ratio=16,
        style='caffe',
        stem_pool='caffe',
        init_cfg=dict(
            type='Pretrained', checkpoint='timm://legacy_seresnet50.in1k')))

# A mid-epoch checkpoint every 1000 iterations (AtomicCheckpointHook; only
# the newest is kept; docs/training.md, "Time limits and preemption"). A
# COCO epoch is 7330 iterations at batch 16: a hard kill (node failure, the
# out-of-memory killer) then loses at most 1000, under a seventh of an
# epoch instead of up to all of it, for 7 more checkpoint writes an epoch.
# Signals (time limits, preemption) lose nothing either way.
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', mid_epoch_interval=1000))
