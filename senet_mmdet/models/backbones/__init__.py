from .seresnet import SEBasicBlock, SEBottleneck, SEResNet
from .seresnext import SEResNeXt, SEResNeXtBottleneck

__all__ = [
    'SEBasicBlock', 'SEBottleneck', 'SEResNet', 'SEResNeXt',
    'SEResNeXtBottleneck'
]
