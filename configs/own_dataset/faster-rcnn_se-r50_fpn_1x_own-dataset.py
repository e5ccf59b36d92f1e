# Faster R-CNN, SE-ResNet-50 FPN, 1x schedule, on YOUR COCO-format dataset
# (docs/own_dataset.md). COPY this file (anywhere: its base is package-scoped)
# and edit the two lines marked EDIT: everything that depends on them (the
# classes of the three dataloaders, the head's num_classes, the evaluators'
# annotation file) follows. Do NOT inherit it to change them: mmengine
# computes metainfo, num_classes and the paths below when it reads this file,
# so a child config's data_root or classes reach none of them (a child must
# set metainfo, num_classes, the dataloaders' data_root/ann_file and the
# evaluators itself; docs/own_dataset.md shows that form).
# The backbone starts from the official ImageNet SE-ResNet-50 weights
# (timm's legacy_seresnet50, fetched on first use; offline: see
# configs/faster_rcnn_se_r50.py; from scratch:
# --cfg-options model.backbone.init_cfg=None).
#
# Learning rate: MMDetection's 0.02 is for a total batch of 16 (8 GPUs x 2
# images). Train with --auto-scale-lr and it is scaled linearly to yours
# (lr = 0.02 x total batch / 16: 0.0025 for one GPU at batch 2):
#   python tools/train.py configs/own_dataset/faster-rcnn_se-r50_fpn_1x_own-dataset.py --auto-scale-lr
#   python tools/test.py configs/own_dataset/faster-rcnn_se-r50_fpn_1x_own-dataset.py \
#       work_dirs/faster-rcnn_se-r50_fpn_1x_own-dataset/epoch_12.pth
_base_ = 'senet_mmdet::senet/faster-rcnn_se-r50_fpn_1x_coco.py'

# EDIT: the folder holding annotations/ and the image folders.
data_root = 'data/own_dataset/'
# EDIT: the category names of your annotation files, in the order of their
# "categories" list (MMDetection numbers the labels in that order).
classes = ('balloon', 'kite')

metainfo = dict(classes=classes)
model = dict(roi_head=dict(bbox_head=dict(num_classes=len(classes))))

train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/')))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
