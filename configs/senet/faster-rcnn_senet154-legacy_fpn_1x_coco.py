# SENet-154 from Cadene's port of the official Caffe model (timm's
# legacy_senet154): Caffe's stem pool, RGB input with ImageNet mean/std.
_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='SENet154',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        stem_pool='caffe',
        init_cfg=dict(
            type='Pretrained', checkpoint='timm://legacy_senet154.in1k')))
