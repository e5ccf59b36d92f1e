# Conference protocol with SE-ResNet-101 (paper: 27.9 AP, 49.2 AP50), from
# timm's legacy_seresnet101 (78.37 % top-1 in timm's table).
_base_ = './faster-rcnn_se-r50-caffe-c4_cvpr-basic_coco-2014.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='timm://legacy_seresnet101.in1k')),
    roi_head=dict(
        shared_head=dict(
            depth=101,
            init_cfg=dict(checkpoint='timm://legacy_seresnet101.in1k'))))
