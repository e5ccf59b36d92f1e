# The plain baseline of faster-rcnn_se-r101_fpn_2x_coco.py: MMDetection's
# own config, with the SE configs' mid-epoch checkpoints. Compare the two with
#   python tools/analysis/diff_configs.py \
#       configs/senet/faster-rcnn_r101_fpn_2x_coco.py \
#       configs/senet/faster-rcnn_se-r101_fpn_2x_coco.py
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py',
    '../_base_/safe_runtime.py'
]

# The SE configs' checkpoint hook (senet_mmdet's), so that both train and
# resume alike: a mid-epoch checkpoint every 1000 iterations
# (configs/faster_rcnn_se_r50.py says why).
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', mid_epoch_interval=1000))
