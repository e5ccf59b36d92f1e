# Conference protocol with SE-ResNet-50 (paper: 26.4 AP, 46.8 AP50): conv4
# of the SE backbone feeds the RPN, and the RoI head is its SE conv5.
_base_ = './faster-rcnn_r50-caffe-c4_cvpr-basic_coco-2014.py'

custom_imports = dict(imports=['senet_mmdet'], allow_failed_imports=False)

# init_cfg=None: see ../faster_rcnn_se_r50.py.
model = dict(
    backbone=dict(type='SEResNet', se_ratio=16, init_cfg=None),
    roi_head=dict(
        shared_head=dict(type='SEResLayer', se_ratio=16, init_cfg=None)))
