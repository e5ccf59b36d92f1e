# The plain twin of the embedded default: MMDetection's own ResNet-18 in
# place of SE-ResNet-18, everything else (lean FPN and heads, schedule,
# seed, from-scratch initialisation with the last norm of each block
# zero-initialised) inherited unchanged, so that `make compare` measures the
# SE modules and nothing else. tests/test_configs checks that the two
# configs differ in the backbone type only, and that both detectors are
# initialised alike.
#   python tools/train.py configs/toy/faster-rcnn_r18_fpn-lean_8e_toy-shapes.py
_base_ = './faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py'

model = dict(backbone=dict(type='ResNet'))
