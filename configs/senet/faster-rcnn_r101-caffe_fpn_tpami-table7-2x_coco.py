# Journal Table 7 protocol, plain ResNet-101 (paper: 39.9 AP, 60.1 AP50).
_base_ = './faster-rcnn_r50-caffe_fpn_tpami-table7-2x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet101_caffe')))
