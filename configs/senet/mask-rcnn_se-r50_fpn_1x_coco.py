# Mask R-CNN, SE-ResNet-50 FPN, 1x, COCO 2017: MMDetection's R-50 config
# with the SE backbone; evaluation reports bbox and segm AP.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['senet_mmdet'], allow_failed_imports=False)

# init_cfg=None: see ../faster_rcnn_se_r50.py.
model = dict(backbone=dict(type='SEResNet', se_ratio=16, init_cfg=None))
