"""Caffe's stem max-pool in a form every ONNX exporter takes.

The official SENet models (Caffe) and their PyTorch ports pool the stem with
a 3x3, stride-2 max-pool without padding that rounds the output size up
(``nn.MaxPool2d(3, 2, ceil_mode=True)``). torch 2.1's ONNX exporter refuses
ceil mode when the input size is dynamic (``get_pool_ceil_padding, input
size not accessible``), so a detector with that pool could not be deployed.
"""
import torch.nn.functional as F
from torch import Tensor, nn


class CaffeMaxPool2d(nn.Module):
    """``nn.MaxPool2d(3, 2, padding=0, ceil_mode=True)``, computed as one
    -inf row and column padded at the bottom and right, then a floor-mode
    pool.

    Why it is exact for every input size n >= 2: the ceil-mode pool has
    ceil((n - 3) / 2) + 1 windows, the k-th starting at 2k; the floor-mode
    pool over n + 1 has floor((n - 2) / 2) + 1, the same number for odd and
    even n, starting at the same places. Every window starts inside the
    input, so the padded -inf is never a window's maximum. For n = 1 both
    have no window and raise. The exporters see a constant ``Pad`` and a
    plain ``MaxPool``, with no dependence on the input size.
    """

    kernel_size = 3
    stride = 2

    def forward(self, x: Tensor) -> Tensor:
        padded = F.pad(x, (0, 1, 0, 1), value=float('-inf'))
        return F.max_pool2d(padded, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return (f'kernel_size={self.kernel_size}, stride={self.stride}, '
                'ceil_mode=True (as a -inf pad and a floor-mode pool)')
