# Mask R-CNN on the toy shapes: the Faster R-CNN toy config plus
# MMDetection's mask branch (narrowed like the rest), trained on the
# polygon masks; evaluation reports bbox and segm AP.
#   make demo-mask, or
#   python tools/train.py \
#       configs/toy/mask-rcnn_se-r18_fpn-lean_8e_toy-shapes.py
_base_ = './faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py'

model = dict(
    type='MaskRCNN',
    data_preprocessor=dict(pad_mask=True),
    roi_head=dict(
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=_base_.fpn_channels,
            featmap_strides=_base_.fpn_strides),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=2,
            in_channels=_base_.fpn_channels,
            conv_out_channels=_base_.fpn_channels,
            num_classes=3,
            loss_mask=dict(
                type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    train_cfg=dict(rcnn=dict(mask_size=28)),
    test_cfg=dict(rcnn=dict(mask_thr_binary=0.5)))

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(
            type='Resize',
            scale=(_base_.image_size, _base_.image_size),
            keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs')
    ]))
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator
