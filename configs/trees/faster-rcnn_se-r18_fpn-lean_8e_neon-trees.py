# The worked example on real images (`make trees`, docs/own_dataset.md):
# Faster R-CNN with an SE-ResNet-18 FPN, from scratch, finding tree crowns
# in NEON aerial RGB images (10 cm per pixel) that DeepForest 2.1.0 ships
# with expert boxes: trained on 256 px tiles (half overlapping) of three
# images, two sites (2019_YELL_2_528000_4978000_image_crop2, OSBS_029,
# SOAP_061), evaluated on a fourth image held out whole
# (2019_YELL_2_541000_4977000_image_crop, 1249x1035, 279 crowns).
# It inherits the lean detector of the toy demo (64-channel FPN and heads,
# every stage trained, AdamW with a cosine schedule); what differs is the
# data and what tree crowns need:
# - anchors: crowns are 8-106 px (median 40) and round (width/height
#   0.7-1.2), so one aspect ratio and two sizes an octave and a half
#   apart per level (16 and 24 px at stride 4 up to 128 and 192 px at
#   stride 32) instead of MMDetection's 32-512 px in three ratios;
# - augmentation: aerial images have no up or down, so flips along both
#   axes and the diagonal (4 of the 8 symmetries of a square), colour
#   jitter (sites and flights differ in light), scale jitter +-20 %;
# - evaluation at native resolution on the whole held-out image: no resize
#   (training tiles are native too), and enough detections kept for its
#   279 crowns (COCO AP counts up to 1000 per image in MMDetection).
# No ImageNet weights: this machine cannot fetch them, so the example
# trains from scratch; the own-dataset template (configs/own_dataset/)
# starts from ImageNet SE weights, which is what to use on real work.
#   make trees, or
#   python tools/train.py \
#       configs/trees/faster-rcnn_se-r18_fpn-lean_8e_neon-trees.py
_base_ = '../toy/faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py'

data_root = 'data/neon_trees/'
classes = ('Tree', )
metainfo = dict(classes=classes)

model = dict(
    rpn_head=dict(
        anchor_generator=dict(scales=[4, 6], ratios=[1.0])),
    roi_head=dict(bbox_head=dict(num_classes=len(classes))),
    test_cfg=dict(
        rpn=dict(nms_pre=2000, max_per_img=1000),
        rcnn=dict(max_per_img=500)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=(256, 256), ratio_range=(0.8, 1.2),
         keep_ratio=True),
    dict(type='RandomFlip', prob=[0.25, 0.25, 0.25],
         direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PhotoMetricDistortion', brightness_delta=24,
         contrast_range=(0.8, 1.2), saturation_range=(0.8, 1.2),
         hue_delta=8),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# 8 epochs of 39 iterations (305 tiles, batch 8): 2440 tile views, about
# 9 minutes of training on 2 cores alone at the 1.75 s per iteration this
# detector takes on the toy demo (docs/benchmarks.md).
max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', eta_min=0.00001, by_epoch=True, begin=0,
         end=max_epochs)
]
# The last epoch's weights are the result: picking the best epoch on the
# held-out image would tune to it.
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=1))
