# Conference protocol with SE-ResNet-50 (paper: 26.4 AP, 46.8 AP50): conv4
# of the SE backbone feeds the RPN, and the RoI head is its SE conv5. Both
# start from the official ImageNet SE-ResNet-50 (timm's legacy_seresnet50,
# 77.65 % top-1 in timm's table): the backbone takes its stem and stages
# 1-3, the head its stage 4. Caffe style like the plain baseline, with
# Caffe's stem pool; RGB input with the ImageNet mean/std, which those
# weights need, where the plain R-50 takes BGR.
_base_ = './faster-rcnn_r50-caffe-c4_cvpr-basic_coco-2014.py'

model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='SEResNet',
        se_ratio=16,
        stem_pool='caffe',
        init_cfg=dict(checkpoint='timm://legacy_seresnet50.in1k')),
    roi_head=dict(
        shared_head=dict(
            type='SEResLayer',
            se_ratio=16,
            init_cfg=dict(checkpoint='timm://legacy_seresnet50.in1k'))))
