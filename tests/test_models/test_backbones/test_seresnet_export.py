"""SEResNet's export forms (se_export): an ONNX file of the backbone in each
form computes the eager backbone at other batches and sizes."""
import io

import pytest
import torch

from senet_mmdet.models import SEResNet
from senet_mmdet.models.layers.se_export import EXPORT_SE_FORMS
from .test_seresnet import assert_equal_to_scale, randomize_norms


@pytest.mark.parametrize('form', EXPORT_SE_FORMS)
def test_exported_backbone_computes_the_eager_one(form):
    import onnx
    import onnxruntime as ort
    torch.manual_seed(0)
    model = SEResNet(depth=26, style='caffe', stem_pool='caffe',
                     se_export=form, zero_init_residual=False)
    model.init_weights()
    randomize_norms(model)
    model.eval()
    buffer = io.BytesIO()
    export_args = dict(
        input_names=['input'], opset_version=11,
        dynamic_axes=dict(input={0: 'batch', 2: 'height', 3: 'width'}))
    if 'dynamo' in torch.onnx.export.__code__.co_varnames:
        export_args['dynamo'] = False
    torch.onnx.export(model, torch.randn(1, 3, 64, 96), buffer,
                      **export_args)
    graph = onnx.load_from_string(buffer.getvalue()).graph
    # The squeeze of every one of the 8 blocks (depth 26: 2 per stage)
    # reads the conv's input in the narrow forms (a GlobalAveragePool
    # each), its output otherwise.
    pools = sum(node.op_type == 'GlobalAveragePool' for node in graph.node)
    assert pools == (0 if form == 'output' else 8)
    session = ort.InferenceSession(buffer.getvalue(),
                                   providers=['CPUExecutionProvider'])
    x = torch.randn(2, 3, 72, 88)
    with torch.no_grad():
        expected = model(x)
    outs = session.run(None, dict(input=x.numpy()))
    for level, (out, ref) in enumerate(zip(outs, expected)):
        assert_equal_to_scale(torch.from_numpy(out), ref, f'level {level}')


def test_se_export_is_checked():
    with pytest.raises(ValueError, match="se_export='fast' is not supported"):
        SEResNet(depth=50, se_export='fast')
