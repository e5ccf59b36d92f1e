# The plain baseline of faster-rcnn_se-r50_fpn_1x_coco.py: MMDetection's
# own config, unchanged. Compare the two with
#   python tools/analysis/diff_configs.py \
#       configs/senet/faster-rcnn_r50_fpn_1x_coco.py \
#       configs/senet/faster-rcnn_se-r50_fpn_1x_coco.py
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
