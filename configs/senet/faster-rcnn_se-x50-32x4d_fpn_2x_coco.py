# SE-ResNeXt-50 (32x4d): 32 groups of width 4 in the first stage's 3x3.
_base_ = './faster-rcnn_se-r50_fpn_2x_coco.py'

model = dict(
    backbone=dict(type='SEResNeXt', depth=50, groups=32, base_width=4))
