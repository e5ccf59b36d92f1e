# SE-ResNet-50 from timm's own SE-ResNet weights (stride on the 3x3, padded
# stem pool, RGB with ImageNet mean/std: MMDetection's defaults), converted
# on the fly from timm's hub cache.
_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        style='pytorch',
        stem_pool='pytorch',
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='timm://seresnet50.a1_in1k')))
