# SE-ResNet-50 from mmpretrain's ImageNet checkpoint (stride on the 3x3,
# padded stem pool, RGB with ImageNet mean/std), downloaded by mmengine and
# converted on the fly.
_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        style='pytorch',
        stem_pool='pytorch',
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'se-resnet/se-resnet50_batch256_imagenet_20200804-ae206104.pth')))
