# SE-ResNet-50 from the official Caffe model (github.com/hujie-frank/SENet;
# download SE-ResNet-50.caffemodel to checkpoints/), read without Caffe:
# stride on the first 1x1, Caffe's stem pool, BGR input minus 104/117/123
# with no std.
_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

model = dict(
    data_preprocessor=dict(
        mean=[104.0, 117.0, 123.0], std=[1.0, 1.0, 1.0], bgr_to_rgb=False),
    backbone=dict(
        style='caffe',
        stem_pool='caffe',
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='checkpoints/SE-ResNet-50.caffemodel')))
