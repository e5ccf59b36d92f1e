# Journal Table 7 protocol with SE-ResNet-50 (paper: 40.4 AP, 61.0 AP50);
# everything but the backbone is the plain baseline's.
_base_ = './faster-rcnn_r50-caffe_fpn_tpami-table7-2x_coco.py'

custom_imports = dict(imports=['senet_mmdet'], allow_failed_imports=False)

# init_cfg=None: see ../faster_rcnn_se_r50.py.
model = dict(backbone=dict(type='SEResNet', se_ratio=16, init_cfg=None))
