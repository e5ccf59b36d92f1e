# Faster R-CNN, SE-ResNet-50 FPN, 2x schedule (24 epochs), COCO 2017:
# MMDetection's R-50 FPN 2x config with the SE backbone of the 1x one.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py'

custom_imports = dict(imports=['senet_mmdet'], allow_failed_imports=False)

# init_cfg=None: see ../faster_rcnn_se_r50.py.
model = dict(backbone=dict(type='SEResNet', se_ratio=16, init_cfg=None))
