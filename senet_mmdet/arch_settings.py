"""The SE-ResNet depths as data, read by the backbones (to build their arch
tables) and by the checkpoint converters (to tell a depth from a port's
tensors), so neither imports the other."""
from typing import Dict, Tuple

from mmdet.models.backbones.resnet import Bottleneck, ResNet

# Bottleneck depths beyond MMDetection's table, as timm builds them (blocks
# per stage): 26 for seresnext26d/26t and legacy_seresnext26, 200 and 269
# for seresnet200d/269d, 201 for seresnextaa201d.
TIMM_DEPTHS = {
    26: (2, 2, 2, 2),
    200: (3, 24, 36, 3),
    201: (3, 24, 36, 4),
    269: (3, 30, 48, 8),
}


def stage_blocks() -> Dict[int, Tuple[Tuple[int, ...], bool]]:
    """``depth -> (blocks per stage, bottleneck or not)`` for every depth of
    the SE backbones: MMDetection's ResNet table and :data:`TIMM_DEPTHS`."""
    depths = {
        depth: (tuple(blocks), issubclass(block, Bottleneck))
        for depth, (block, blocks) in ResNet.arch_settings.items()
    }
    depths.update((depth, (blocks, True))
                  for depth, blocks in TIMM_DEPTHS.items())
    return depths
