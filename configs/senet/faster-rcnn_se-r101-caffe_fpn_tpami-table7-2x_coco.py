# Journal Table 7 protocol with SE-ResNet-101 (paper: 41.9 AP, 62.7 AP50),
# from timm's legacy_seresnet101 (78.37 % top-1 in timm's table).
_base_ = './faster-rcnn_se-r50-caffe_fpn_tpami-table7-2x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='timm://legacy_seresnet101.in1k')))
