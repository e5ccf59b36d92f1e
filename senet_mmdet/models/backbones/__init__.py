from .seresnet import SEBasicBlock, SEBottleneck, SEResNet
from .senet154 import SENet154, SENet154Bottleneck
from .seresnext import SEResNeXt, SEResNeXtBottleneck

__all__ = [
    'SEBasicBlock', 'SEBottleneck', 'SEResNet', 'SEResNeXt',
    'SEResNeXtBottleneck', 'SENet154', 'SENet154Bottleneck'
]
