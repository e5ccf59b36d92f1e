_base_ = './faster-rcnn_se-x50-32x4d_fpn_2x_coco.py'

model = dict(backbone=dict(depth=101))
