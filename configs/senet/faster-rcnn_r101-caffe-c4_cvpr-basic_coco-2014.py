# Conference protocol, plain ResNet-101 (paper: 27.2 AP, 48.4 AP50).
_base_ = './faster-rcnn_r50-caffe-c4_cvpr-basic_coco-2014.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet101_caffe')),
    roi_head=dict(
        shared_head=dict(
            depth=101,
            init_cfg=dict(
                type='Pretrained',
                checkpoint='open-mmlab://detectron2/resnet101_caffe'))))
