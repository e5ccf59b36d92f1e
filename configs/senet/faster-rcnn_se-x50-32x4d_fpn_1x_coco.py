# SE-ResNeXt-50 (32x4d): 32 groups of width 4 in the first stage's 3x3,
# from the official ImageNet weights as timm re-hosts them
# (legacy_seresnext50_32x4d: 79.08 % top-1 in timm's table). Ported from
# Caffe, they take the stride on the grouped 3x3 (pytorch style) and
# Caffe's stem pool; RGB input with the ImageNet mean/std.
_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='SEResNeXt',
        depth=50,
        groups=32,
        base_width=4,
        style='pytorch',
        init_cfg=dict(checkpoint='timm://legacy_seresnext50_32x4d.in1k')))
