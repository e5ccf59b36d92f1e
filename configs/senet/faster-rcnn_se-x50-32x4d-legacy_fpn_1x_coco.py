# SE-ResNeXt-50 (32x4d) from Cadene's port of the official Caffe model
# (timm's legacy_seresnext50_32x4d): stride on the grouped 3x3, Caffe's stem
# pool, RGB input with ImageNet mean/std.
_base_ = './faster-rcnn_se-x50-32x4d_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        style='pytorch',
        stem_pool='caffe',
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='timm://legacy_seresnext50_32x4d.in1k')))
