from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

# The 2048 x 1000 classifier (weights and bias) that the official
# parameter counts include and a detection backbone does not.
FC_PARAMS = 2048 * 1000 + 1000


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_norm_state(modules, train_state: bool) -> bool:
    """Whether every BN among ``modules`` is in the given training state."""
    return all(mod.training == train_state for mod in modules
               if isinstance(mod, _BatchNorm))


def se_params(channels: int, ratio: int = 16) -> int:
    """Parameters of one biased SE module: 2 C^2 / r + C / r + C."""
    hidden = channels // ratio
    return 2 * channels * hidden + hidden + channels
