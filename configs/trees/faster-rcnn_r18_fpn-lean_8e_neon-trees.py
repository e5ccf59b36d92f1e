# The plain twin of the trees example: MMDetection's own ResNet-18 in place
# of SE-ResNet-18, everything else inherited unchanged, so that
# `make compare-trees` measures the SE modules and nothing else.
#   python tools/train.py configs/trees/faster-rcnn_r18_fpn-lean_8e_neon-trees.py
_base_ = './faster-rcnn_se-r18_fpn-lean_8e_neon-trees.py'

model = dict(backbone=dict(type='ResNet'))
