"""What the SE gates do: record every SE module's excitation (the gate
values, one per channel) and measure how much it depends on the class of
the input, as in Hu et al., journal version, Sec. 7.2 (Fig. 6 and 7).

The paper found the excitations of early blocks nearly the same for every
class, those of deeper blocks class-specific, and the last ones nearly
saturated. :func:`class_specificity` puts a number on the first two
claims, :func:`excitation_summary` on all three;
``tools/analysis/excitation.py`` runs them over a detector's val objects.
"""
import re
from collections import defaultdict
from typing import Dict, Iterator, List, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from senet_mmdet.models.layers.se import SqueezeExcitation

# A gate above this counts as saturated: the channel passes nearly as is.
SATURATED = 0.9


def se_block_name(module_name: str) -> str:
    """The paper's name of the SE module at ``layer<i>.<j>...``:
    ``SE_<stage>_<block>``, stages numbered from 2 (conv2_x) and blocks
    from 1, so ResNet-50's last block of stage 4 is ``SE_4_6``."""
    match = re.match(r'layer(\d+)\.(\d+)\.', module_name)
    if match is None:
        raise ValueError(f'{module_name} is not inside a residual stage '
                         '(layer<i>.<j>)')
    stage, block = (int(group) for group in match.groups())
    return f'SE_{stage + 1}_{block + 1}'


def se_modules(backbone: nn.Module) -> Dict[str, SqueezeExcitation]:
    """Every SE module of a backbone by its paper name, in network order;
    blocks (SEResNet ...) and MMDetection plugins alike."""
    modules = {
        se_block_name(name): module
        for name, module in backbone.named_modules()
        if isinstance(module, SqueezeExcitation)
    }
    if not modules:
        raise ValueError(f'{type(backbone).__name__} has no SE module: '
                         'the excitation analysis needs an SE backbone')
    return modules


def paper_blocks(names: Sequence[str]) -> List[str]:
    """The paper's choice of blocks: the last of each stage (just before a
    downsampling) and every block of the last stage; for SE-ResNet-50
    SE_2_3, SE_3_4, SE_4_6, SE_5_1, SE_5_2, SE_5_3."""
    stages: Dict[int, List[str]] = defaultdict(list)
    for name in names:
        stages[int(name.split('_')[1])].append(name)
    last = max(stages)
    return [blocks[-1] for stage, blocks in sorted(stages.items())
            if stage != last] + stages[last]


class GateRecorder:
    """Records the gate of every SE module of ``backbone`` while it runs.

    The hook sits on each module's gate (the sigmoid), which both the fused
    SE step and the straightforward one call, so what is recorded does not
    depend on ``fuse_se``. After each forward, ``gates[name]`` gains an
    (N, C) array.

    Example:
        >>> with GateRecorder(backbone) as recorder:
        ...     backbone(images)
        >>> recorder.gates['SE_5_2'][0].shape
        (N, 2048)
    """

    def __init__(self, backbone: nn.Module) -> None:
        self.modules = se_modules(backbone)
        self.gates: Dict[str, List[np.ndarray]] = defaultdict(list)
        self._handles = []

    def __enter__(self) -> 'GateRecorder':
        for name, module in self.modules.items():
            self._handles.append(
                module.gate.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str):

        def record(module: nn.Module, inputs, output: torch.Tensor) -> None:
            self.gates[name].append(
                output.detach().flatten(1).double().cpu().numpy())

        return record

    def stacked(self) -> Dict[str, np.ndarray]:
        """Each block's gates over every recorded input, (inputs, C)."""
        return {name: np.concatenate(self.gates[name])
                for name in self.modules if self.gates[name]}


def class_profiles(gates: np.ndarray,
                   labels: np.ndarray) -> Dict[int, np.ndarray]:
    """The mean excitation per channel of each class's inputs."""
    return {int(label): gates[labels == label].mean(axis=0)
            for label in np.unique(labels)}


def class_specificity(gates: np.ndarray, labels: np.ndarray) -> float:
    """How far apart the classes' mean excitations are, relative to how
    much the excitation varies among inputs of one class.

    The root mean square, over channels and pairs of classes, of the
    difference between two class profiles, divided by the root mean
    square, over channels and classes, of the within-class standard
    deviation. 0 when every class has the same profile; about
    ``sqrt(2 / n)`` for n inputs per class from chance alone (compare with
    the same number on shuffled labels); above 1 when the classes differ
    by more than their inputs do.
    """
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError('class specificity needs inputs of at least two '
                         f'classes, got only {classes.tolist()}')
    counts = [int((labels == label).sum()) for label in classes]
    if min(counts) < 2:
        raise ValueError('class specificity needs at least two inputs per '
                         f'class, got {dict(zip(classes.tolist(), counts))}')
    profiles = np.stack([gates[labels == label].mean(axis=0)
                         for label in classes])
    spreads = np.stack([gates[labels == label].std(axis=0, ddof=1)
                        for label in classes])
    pairs = [(a, b) for a in range(len(classes))
             for b in range(a + 1, len(classes))]
    between = np.sqrt(np.mean([(profiles[a] - profiles[b])**2
                               for a, b in pairs]))
    within = np.sqrt(np.mean(spreads**2))
    if within == 0:
        return 0.0 if between == 0 else float('inf')
    return float(between / within)


def shuffled_specificity(gates: np.ndarray,
                         labels: np.ndarray,
                         rounds: int = 20,
                         seed: int = 0) -> float:
    """:func:`class_specificity` with the labels permuted at random (mean
    over ``rounds``): what chance alone gives for these class sizes."""
    rng = np.random.default_rng(seed)
    return float(np.mean([class_specificity(gates, rng.permutation(labels))
                          for _ in range(rounds)]))


def excitation_summary(gates: Dict[str, np.ndarray],
                       labels: np.ndarray,
                       class_names: Sequence[str]) -> Dict[str, dict]:
    """Per block: channels, mean gate, the saturated share (gates above
    :data:`SATURATED`), the class specificity beside its shuffled-label
    baseline, and the class profiles."""
    summary = {}
    for name, block in gates.items():
        profiles = class_profiles(block, labels)
        summary[name] = dict(
            channels=int(block.shape[1]),
            mean_gate=float(block.mean()),
            saturated=float((block > SATURATED).mean()),
            class_specificity=class_specificity(block, labels),
            class_specificity_shuffled=shuffled_specificity(block, labels),
            profiles={
                class_names[label]: profile.round(5).tolist()
                for label, profile in profiles.items()
            },
            profile_all=block.mean(axis=0).round(5).tolist())
    return summary


def object_crops(image: np.ndarray, boxes: np.ndarray, size: int,
                 context: float) -> Iterator[np.ndarray]:
    """Each box of ``image`` (H, W, 3) with ``context`` of its size added on
    every side, clipped to the image and resized to ``size`` x ``size``."""
    height, width = image.shape[:2]
    for x1, y1, x2, y2 in boxes:
        margin_x, margin_y = context * (x2 - x1), context * (y2 - y1)
        left = int(max(0, np.floor(x1 - margin_x)))
        top = int(max(0, np.floor(y1 - margin_y)))
        right = int(min(width, np.ceil(x2 + margin_x)))
        bottom = int(min(height, np.ceil(y2 + margin_y)))
        crop = image[top:bottom, left:right]
        yield cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
