# RetinaNet, SE-ResNet-50 FPN, 1x, COCO 2017: MMDetection's R-50 config with
# the flagship's backbone and ImageNet SE weights (see
# ../faster_rcnn_se_r50.py): a one-stage detector on the same backbone.
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    '../_base_/safe_runtime.py'
]
model = dict(backbone=dict(
    type='SEResNet', se_ratio=16, style='caffe', stem_pool='caffe',
    init_cfg=dict(type='Pretrained',
                  checkpoint='timm://legacy_seresnet50.in1k')))

# A mid-epoch checkpoint every 1000 iterations, as in the flagship
# (configs/faster_rcnn_se_r50.py says why).
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', mid_epoch_interval=1000))
