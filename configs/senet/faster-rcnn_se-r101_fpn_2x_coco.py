_base_ = './faster-rcnn_se-r50_fpn_2x_coco.py'

model = dict(backbone=dict(depth=101))
