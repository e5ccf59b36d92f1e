# MMDetection's naming for the flagship config; inherit it from your own
# config with _base_ = 'senet_mmdet::senet/faster-rcnn_se-r50_fpn_1x_coco.py'
_base_ = '../faster_rcnn_se_r50.py'
