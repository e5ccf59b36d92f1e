# SE-ResNet-101 from the official ImageNet weights (Cadene's port,
# timm's legacy_seresnet101: 78.37 % top-1 in timm's table), conventions as
# the flagship's.
_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='timm://legacy_seresnet101.in1k')))
