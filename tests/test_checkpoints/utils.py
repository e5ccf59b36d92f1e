"""What the checkpoint tests share: random weights for a source model,
and the model-zoo tables of docs/configs_and_weights.md, for the tests that
check them against what the converter derives. Needs nothing beyond the
runtime requirements (the torch 2.1 stack's tests import it)."""
import re
from pathlib import Path
from typing import Dict

import torch

ZOO_PAGE = Path(__file__).parents[2] / 'docs' / 'configs_and_weights.md'

# Backbone arguments the zoo tables leave out when they hold these values.
DEFAULTS = dict(se_ratio=16, avg_down=False, deep_stem=False,
                anti_alias=False, relu_before_se=False, style='pytorch',
                stem_pool='pytorch')


def zoo_arguments() -> Dict[str, str]:
    """checkpoint -> the backbone arguments its zoo row lists."""
    return dict(
        re.findall(r'^\| `([^`]+)` \| [^|]+ \| `([^`]+)` \|$',
                   ZOO_PAGE.read_text(), re.MULTILINE))


def shown_arguments(backbone: dict) -> str:
    """Converted conventions as a zoo row lists them: the arguments that
    differ from :data:`DEFAULTS`, in the converter's order."""
    return ', '.join(f'{name}={value!r}' for name, value in backbone.items()
                     if DEFAULTS.get(name, object()) != value)


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere, BatchNorm statistics included (default
    statistics would hide a mean/variance mix-up)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith('running_var'):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) +
                             0.5)
            elif re.search(r'layer\d\.\d+\.bn3\.weight$', name):
                # Residual branches scaled down, as in a trained network:
                # otherwise 36 random blocks amplify rounding chaotically
                # and the comparison measures that, not the conversion.
                tensor.copy_(torch.rand(tensor.shape, generator=generator) *
                             0.2)
            elif name.endswith(('bn1.weight', 'bn2.weight', 'bn3.weight')):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) +
                             0.5)
            else:
                scale = 0.1 if tensor.dim() == 1 else (
                    2.0 / tensor[0].numel())**0.5
                tensor.copy_(
                    torch.randn(tensor.shape, generator=generator) * scale)
    model.eval()
    return model
