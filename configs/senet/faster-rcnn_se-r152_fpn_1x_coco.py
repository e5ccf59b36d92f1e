# SE-ResNet-152 from the official ImageNet weights (Cadene's port,
# timm's legacy_seresnet152: 78.66 % top-1 in timm's table), conventions as
# the flagship's.
_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=152,
        init_cfg=dict(checkpoint='timm://legacy_seresnet152.in1k')))
