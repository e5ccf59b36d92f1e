# Faster R-CNN, SE-ResNet-50 FPN, 1x schedule, COCO 2017: MMDetection's
# R-50 FPN config with its backbone swapped for SE-ResNet-50 (r = 16).
# Train: python tools/train.py configs/faster_rcnn_se_r50.py
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

# Registers SEResNet & co. in MMDetection's registries; works with
# MMDetection's own tools/train.py too.
custom_imports = dict(imports=['senet_mmdet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='SEResNet',
        se_ratio=16,
        # No ImageNet initialisation yet: the inherited torchvision ResNet-50
        # checkpoint has no SE weights and would load with SE left random.
        # Point this at SE-pretrained weights when you have them:
        # init_cfg=dict(type='Pretrained', checkpoint='path/to/se_r50.pth')
        init_cfg=None))
