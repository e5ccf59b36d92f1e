# Journal Table 7 protocol with SE-ResNet-50 (paper: 40.4 AP, 61.0 AP50):
# everything but the backbone, its weights and the input normalisation
# those weights need is the plain baseline's. The plain R-50 starts from
# Detectron's ImageNet ResNet-50 (caffe style, BGR); this one from the
# official ImageNet SE-ResNet-50 (timm's legacy_seresnet50, Cadene's port
# of the Caffe release, 77.65 % top-1 in timm's table): also caffe style,
# with Caffe's stem pool, but RGB input with the ImageNet mean/std.
_base_ = './faster-rcnn_r50-caffe_fpn_tpami-table7-2x_coco.py'

model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='SEResNet',
        se_ratio=16,
        stem_pool='caffe',
        init_cfg=dict(checkpoint='timm://legacy_seresnet50.in1k')))
