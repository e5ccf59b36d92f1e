# SE-ResNet-50 from the PyTorch port of the official Caffe model (Cadene's
# pretrainedmodels, hosted by timm as legacy_seresnet50): stride on the
# first 1x1 (caffe style), Caffe's unpadded ceil-mode stem pool, RGB input
# with ImageNet mean/std (MMDetection's default data preprocessor).
_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        style='caffe',
        stem_pool='caffe',
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='timm://legacy_seresnet50.in1k')))
