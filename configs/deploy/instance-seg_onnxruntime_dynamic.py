# mmdeploy 1.3.1 deploy config: a whole MMDetection instance segmentation
# model (Mask R-CNN) to ONNX for onnxruntime, batch and image size dynamic:
# the detection config (mmdeploy's ObjectDetection task serves both) with
# a third output, each detection's mask probabilities at the mask head's
# RoI size, which mmdeploy pastes into the image afterwards (the values of
# mmdeploy's configs/mmdet/_base_/base_instance-seg_dynamic.py).
_base_ = ['./detection_onnxruntime_dynamic.py']

onnx_config = dict(
    output_names=['dets', 'labels', 'masks'],
    dynamic_axes=dict(masks={
        0: 'batch',
        1: 'num_dets',
        2: 'height',
        3: 'width'
    }))
codebase_config = dict(post_processing=dict(export_postprocess_mask=False))
