"""What a module that pretrained SE weights load into tells the loader:
implemented by the SE backbones and the C4 head, called by
``senet_mmdet.checkpoints.loading``, and kept here so that neither package
imports the other (as :mod:`senet_mmdet.arch_settings` is for the
depths)."""
from abc import ABC, abstractmethod
from typing import Any, Dict


class PretrainedTarget(ABC):
    """A module that the ``SEPretrained`` initializer fills.

    A converted checkpoint names the backbone arguments its weights were
    trained with (``Conventions.backbone``: the backbone ``type`` and
    constructor arguments such as ``depth``, ``style``, ``stem_pool``,
    ``se_ratio``). The loader compares them with what the module reports
    and refuses the weights, naming each argument to change, where they
    differ. Plain ResNet weights fill everything but the SE modules, which
    the loader then asks the module to start near identity.
    """

    @abstractmethod
    def weight_conventions(self) -> Dict[str, Any]:
        """The backbone ``type`` whose weights this module takes and the
        convention-bearing arguments it was built with, under the names
        ``Conventions.backbone`` gives them. An argument it does not
        report is not its to check (a C4 head has no stem)."""

    @abstractmethod
    def start_se_near_identity(self) -> None:
        """Set every SE module to scale its input by a constant near 1,
        whatever the input, so that the module computes what the plain
        ResNet whose weights it holds computes until training moves the
        gates."""
