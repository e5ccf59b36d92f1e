# The plain speed twin of
# configs/senet/faster-rcnn_se-r50-caffe_fpn_tpami-table7-2x_coco.py: the
# same caffe-style backbone with Caffe's stem pool, frozen BatchNorm, data
# preprocessor, neck and heads, with SE switched off in every stage. The
# plain TPAMI config (faster-rcnn_r50-caffe_fpn_tpami-table7-2x_coco.py)
# pools the stem with padding and takes BGR input, so timed against it SE
# would also be charged for the Caffe pool's padding. For timing only: no
# ImageNet weights exist for ResNet-50 with Caffe's stem pool (random
# weights; python tools/analysis/diff_configs.py THIS SE_CONFIG --se-twin
# checks the pair, docs/deployment.md times it).
_base_ = '../../senet/faster-rcnn_se-r50-caffe_fpn_tpami-table7-2x_coco.py'

model = dict(
    backbone=dict(stage_with_se=(False, False, False, False), init_cfg=None))
