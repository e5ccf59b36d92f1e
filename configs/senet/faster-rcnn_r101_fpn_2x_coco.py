# The plain baseline of faster-rcnn_se-r101_fpn_2x_coco.py: MMDetection's
# own config, unchanged. Compare the two with
#   python tools/analysis/diff_configs.py \
#       configs/senet/faster-rcnn_r101_fpn_2x_coco.py \
#       configs/senet/faster-rcnn_se-r101_fpn_2x_coco.py
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py'
