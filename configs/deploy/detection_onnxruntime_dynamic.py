# mmdeploy 1.3.1 deploy config: a whole MMDetection detector to ONNX for
# onnxruntime, batch and image size dynamic. The same values as mmdeploy's
# configs/mmdet/detection/detection_onnxruntime_dynamic.py, which its pip
# wheel does not ship (tools/deployment/deploy.py, docs/deployment.md).
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['dets', 'labels'],
    input_shape=None,
    optimize=True,
    dynamic_axes=dict(
        input={
            0: 'batch',
            2: 'height',
            3: 'width'
        },
        dets={
            0: 'batch',
            1: 'num_dets'
        },
        labels={
            0: 'batch',
            1: 'num_dets'
        }))
# score/iou/keep values apply where the model's test_cfg sets none; the
# RPN and R-CNN heads take theirs from test_cfg.
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.05,
        confidence_threshold=0.005,
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1))
backend_config = dict(type='onnxruntime')
