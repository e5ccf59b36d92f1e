# PaddleDetection's SENet-154-vd Faster R-CNN FPN (42.9 box AP on COCO
# val2017, PaddleDetection 0.x docs/MODEL_ZOO.md; not trained here) in
# MMDetection: its backbone (_base_/senet154-vd-paddleclas.py) and schedule
# (_base_/schedule_paddledet-s1x.py), 1 image per GPU on 8 GPUs.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    './_base_/schedule_paddledet-s1x.py',
    './_base_/senet154-vd-paddleclas.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/safe_runtime.py',
]
# Every key of the ResNet-50 backbone dict is one of SENet154_vd's.
model = dict(backbone={{_base_.senet154_vd}})

train_dataloader = dict(batch_size=1, sampler=dict(type='InfiniteSampler'))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10000))
log_processor = dict(by_epoch=False)
