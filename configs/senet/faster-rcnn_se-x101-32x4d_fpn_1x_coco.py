# SE-ResNeXt-101 (32x4d) from the official ImageNet weights as timm
# re-hosts them (legacy_seresnext101_32x4d: 80.27 % top-1 in timm's table);
# conventions as SE-ResNeXt-50's.
_base_ = './faster-rcnn_se-x50-32x4d_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='timm://legacy_seresnext101_32x4d.in1k')))
