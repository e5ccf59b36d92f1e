# PaddleDetection's "s1x" schedule of its SENet-154-vd FPN detectors
# (configs/faster_rcnn_se154_vd_fpn_s1x.yml and
# mask_rcnn_se154_vd_fpn_s1x.yml in PaddleDetection 0.x), in place of
# MMDetection's schedule_1x.py: 260k iterations of 8 images (1 per GPU on
# 8 GPUs), SGD at 0.01 with a linear warm-up from 0.1x over 1000
# iterations, divided by 10 at 200k and 240k; weight decay 1e-4.
max_iters = 260000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[200000, 240000],
        gamma=0.1)
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))

# The learning rate above is for 8 images per iteration.
auto_scale_lr = dict(enable=False, base_batch_size=8)
