# The backbone of PaddleDetection's SENet-154-vd FPN detectors
# (configs/faster_rcnn_se154_vd_fpn_s1x.yml and
# mask_rcnn_se154_vd_fpn_s1x.yml in PaddleDetection 0.x), as a variable
# that configs set as their model's backbone.

# PaddleClas's SENet154_vd: an SE-ResNeXt-152 64x4d with a 64-64-128 deep
# stem and average-pool shortcuts ("vd"); frozen BatchNorm (Paddle's
# affine_channel), stem and stage 1 frozen (freeze_at: 2). Weights:
# PaddleClas's SENet154_vd_pretrained.pdparams, downloaded to checkpoints/
# and read without Paddle.
senet154_vd = dict(
    type='SEResNeXt',
    depth=152,
    groups=64,
    base_width=4,
    deep_stem=True,
    stem_channels=128,
    avg_down=True,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    style='pytorch',
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/SENet154_vd_pretrained.pdparams'))
