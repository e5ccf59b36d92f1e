"""SE-ResNet: MMDetection's ResNet with a Squeeze-and-Excitation block.

Hu et al., "Squeeze-and-Excitation Networks", arXiv 1709.01507. The blocks
subclass MMDetection's ``BasicBlock`` and ``Bottleneck`` and the backbone its
``ResNet``, so every ResNet argument keeps its meaning.
"""
from typing import Any, Dict, Optional, Sequence, Tuple

import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import Tensor, nn

from mmdet.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmdet.models.layers import ResLayer
from mmdet.registry import MODELS, WEIGHT_INITIALIZERS
from senet_mmdet.arch_settings import TIMM_DEPTHS
from senet_mmdet.models.layers.caffe_pool import CaffeMaxPool2d
from senet_mmdet.models.layers.se import GATES, SQUEEZES, SqueezeExcitation
from senet_mmdet.models.layers.se_export import (
    EXPORT_SE_FORMS, export_se_conv_norm_residual_relu)
from senet_mmdet.models.layers.se_fused import (
    conv_output_mean, is_compiling, is_exporting, is_frozen_batchnorm,
    is_live_batchnorm, is_pointwise_conv, se_norm_residual_relu)
from senet_mmdet.pretrained_target import PretrainedTarget
from senet_mmdet.utils import check_choice, check_se_ratio

# Where the SE module sits in the residual unit (paper Sec. 6.5, Fig. 5,
# Table 14, ResNet-50 top-1 error): 'standard' gates the residual branch
# before the sum (22.28); 'pre' gates the unit's input on the residual
# branch (SE-PRE, 22.23); 'post' gates after the sum and ReLU (SE-POST,
# 22.78); 'identity' gates the identity branch in parallel (SE-Identity,
# 22.20).
SE_POSITIONS = ('standard', 'pre', 'post', 'identity')

# The stem pool: max-pool padded (PyTorch ports) or Caffe's unpadded, ceil
# mode; or timm's anti-aliased models' 2x2 average pool.
STEM_POOLS = ('pytorch', 'caffe', 'avg')

# Under torch.compile the fused step runs as plain operations (no autograd
# Function, which would stop the compiler) on feature maps of at least
# this many positions (N * H * W), the straightforward SE form below it:
# inductor compiles the straightforward form to less time on small maps,
# the fused one on large maps (docs/benchmarks.md, "Numbers behind choices
# in the code"; `make bench` times the result).
COMPILED_FUSED_MIN_PIXELS = 4096

# Positions inside a bottleneck at which mmdet's ResNet inserts plugins.
PLUGIN_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')


class SEBlockMixin:
    """Adds one :class:`SqueezeExcitation` to a residual block.

    Mixed in before an MMDetection block, whose residual branch the subclass
    spells out in three parts: ``residual_head`` up to the last convolution,
    that convolution (``last_conv_name``), and ``residual_tail``, the last
    norm and any plugins after it. ``se_cfg=None`` builds the plain block,
    which is how ``stage_with_se`` switches SE off per stage.
    """

    last_conv_name: str
    # The norm that ends the residual branch, zero-initialised so each block
    # starts as identity (Goyal et al., arXiv 1706.02677, Sec. 5.1).
    last_norm_name: str

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 se_cfg: Optional[dict] = None,
                 se_position: str = 'standard',
                 fuse_se: bool = True,
                 se_export: str = 'narrow_squeeze',
                 anti_alias: bool = False,
                 relu_before_se: bool = False,
                 stride: int = 1,
                 **kwargs) -> None:
        # Anti-aliased downsampling (Zhang, arXiv 1904.11486, as timm's
        # ``aa`` models do it): the strided 3x3 runs at stride 1 and a 2x2
        # average pool after its ReLU downsamples.
        pool_downsamples = anti_alias and stride > 1
        super().__init__(
            inplanes, planes, stride=1 if pool_downsamples else stride,
            **kwargs)
        self.aa = nn.AvgPool2d(stride) if pool_downsamples else None
        self.se_position = se_position if se_cfg is not None else None
        self.fuse_se = fuse_se
        self.se_export = se_export
        self.relu_before_se = relu_before_se and se_cfg is not None
        if se_cfg is not None:
            # SE-PRE gates the unit's input; the others gate its output.
            se_channels = inplanes if se_position == 'pre' else (
                planes * self.expansion)
            self.se = SqueezeExcitation(se_channels, **se_cfg)

    @property
    def last_conv(self) -> nn.Module:
        return getattr(self, self.last_conv_name)

    @property
    def last_norm(self) -> nn.Module:
        return getattr(self, self.last_norm_name)

    def residual_head(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def residual_tail(self, out: Tensor) -> Tensor:
        raise NotImplementedError

    def tail_is_last_norm(self) -> bool:
        """Whether ``residual_tail`` applies the last norm and nothing else."""
        return True

    def se_fuses_with_last_norm(self) -> bool:
        """Whether the standard SE gate, the residual add and the ReLU can be
        computed from the last conv's output through a BatchNorm, frozen or
        live (torch's own, in training mode), in one step that keeps no more
        tensors than the plain block."""
        return (self.fuse_se and self.se_position == 'standard'
                and not self.relu_before_se and self.se.squeeze == 'avg'
                and self.tail_is_last_norm()
                and (is_frozen_batchnorm(self.last_norm)
                     or is_live_batchnorm(self.last_norm)))

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)

    def _forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        if self.se_position == 'pre':
            x = self.se(x)
        features = self.residual_head(x)
        if self._exports_se_form():
            return export_se_conv_norm_residual_relu(
                self.se, self.last_conv, features, self.last_norm, identity,
                self.se_export)
        out = self.last_conv(features)
        if self.se_fuses_with_last_norm() and (
                not is_compiling() or self._compiles_fused(out)):
            out_mean = None
            if is_frozen_batchnorm(self.last_norm):
                out_mean = conv_output_mean(self.last_conv, features, out)
            return se_norm_residual_relu(self.se, out, self.last_norm,
                                         identity, out_mean)
        out = self.residual_tail(out)
        if self.relu_before_se:
            out = self.relu(out)
        if self.se_position == 'standard':
            out = self.se(out)
        if self.se_position == 'identity':
            identity = self.se(identity)
        out = self.relu(out + identity)
        if self.se_position == 'post':
            out = self.se(out)
        return out

    def _exports_se_form(self) -> bool:
        """Whether an export records the SE block's export form
        (:func:`export_se_conv_norm_residual_relu`)."""
        return (is_exporting() and self.se_fuses_with_last_norm()
                and is_frozen_batchnorm(self.last_norm)
                and is_pointwise_conv(self.last_conv))

    @staticmethod
    def _compiles_fused(out: Tensor) -> bool:
        """Under torch.compile: whether the fused step's operations beat
        the straightforward form's (:data:`COMPILED_FUSED_MIN_PIXELS`)."""
        batch, _, height, width = out.shape
        return batch * height * width >= COMPILED_FUSED_MIN_PIXELS


class SEBasicBlock(SEBlockMixin, BasicBlock):
    """SE basic block for SE-ResNet-18/34 (mmdet's takes no plugins)."""

    last_conv_name = 'conv2'
    last_norm_name = 'norm2'

    def residual_head(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        out = self.norm1(out)
        out = self.relu(out)
        if self.aa is not None:
            out = self.aa(out)
        return out

    def residual_tail(self, out: Tensor) -> Tensor:
        return self.norm2(out)


class SEBottleneck(SEBlockMixin, Bottleneck):
    """SE bottleneck for SE-ResNet-50/101/152; keeps mmdet's plugins."""

    last_conv_name = 'conv3'
    last_norm_name = 'norm3'

    def residual_head(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        out = self.norm1(out)
        out = self.relu(out)
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv1_plugin_names)
        out = self.conv2(out)
        out = self.norm2(out)
        out = self.relu(out)
        if self.aa is not None:
            out = self.aa(out)
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv2_plugin_names)
        return out

    def residual_tail(self, out: Tensor) -> Tensor:
        out = self.norm3(out)
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv3_plugin_names)
        return out

    def tail_is_last_norm(self) -> bool:
        return not (self.with_plugins and self.after_conv3_plugin_names)


def se_module_cfg(owner: str, se_ratio: int, se_squeeze: str, se_gate: str,
                  se_bias: bool, se_position: str) -> dict:
    """Check the SE arguments of ``owner`` and return the
    :class:`SqueezeExcitation` arguments (``se_cfg``) of its blocks."""
    check_se_ratio(owner, 'se_ratio', se_ratio)
    check_choice(owner, 'se_squeeze', se_squeeze, SQUEEZES)
    check_choice(owner, 'se_gate', se_gate, GATES)
    check_choice(owner, 'se_position', se_position, SE_POSITIONS)
    return dict(ratio=se_ratio, squeeze=se_squeeze, gate=se_gate, bias=se_bias)


def se_arch_settings(plain: dict, se_blocks: dict) -> dict:
    """An arch table with each plain block class replaced by its SE twin.

    Derived rather than written out, so depths and blocks per stage stay
    exactly MMDetection's (``{depth: (block, stage_blocks)}``).
    """
    return {
        depth: (se_blocks[block], stage_blocks)
        for depth, (block, stage_blocks) in plain.items()
    }


def with_timm_depths(plain: dict, bottleneck: type) -> Dict:
    """MMDetection's arch table with :data:`TIMM_DEPTHS` added."""
    extra = {
        depth: (bottleneck, stage_blocks)
        for depth, stage_blocks in TIMM_DEPTHS.items()
    }
    return {**plain, **extra}


def is_pretrained(init_cfg) -> bool:
    """Whether ``init_cfg`` asks for pretrained weights."""
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'


def init_se_pretrained(module: nn.Module, init_cfg: dict,
                       **options) -> None:
    """Load a ``Pretrained`` ``init_cfg`` into ``module`` through the
    ``SEPretrained`` initializer, which converts a port's file, checks its
    conventions and accounts for every key (``senet_mmdet.checkpoints``
    registers it; looked up by name, so the models do not import that
    package)."""
    loader = WEIGHT_INITIALIZERS.build(
        dict(init_cfg, type='SEPretrained', **options))
    loader(module)
    module._is_init = True


@MODELS.register_module()
class SEResNet(ResNet, PretrainedTarget):
    """SE-ResNet backbone (Hu et al., arXiv 1709.01507).

    Takes every argument of MMDetection's :class:`ResNet` with the same
    meaning, plus the SE arguments below.

    Args:
        depth (int): 18, 34, 50, 101 or 152 (MMDetection's), or timm's
            bottleneck depths 26, 200, 201 and 269 (:data:`TIMM_DEPTHS`).
        se_ratio (int): Reduction ratio r of every SE module. Defaults to 16,
            the paper's choice; the squeeze width is then exactly C / 16.
        stage_with_se (Sequence[bool], optional): SE on/off per stage, of
            length ``num_stages``. ``(True, True, True, False)`` is the
            paper's variant without SE in the last stage (about +4 %
            parameters instead of +10 %). Defaults to None: SE everywhere.
        se_squeeze (str): ``'avg'`` (paper) or ``'max'`` pooling.
        se_gate (str): ``'sigmoid'`` (paper) or ``'hard_sigmoid'``.
        se_bias (bool): Bias in the two SE FCs. Defaults to True, as in the
            released models.
        se_position (str): ``'standard'``, ``'pre'``, ``'post'`` or
            ``'identity'`` (paper Fig. 5).
        fuse_se (bool): Compute the standard SE block after a frozen
            BatchNorm (eval mode, or ``norm_eval=True``) in one fused step
            that never materialises the norm's output: same outputs and
            gradients, the plain ResNet's memory. False runs the
            straightforward formulation. Defaults to True.
        se_export (str): How ONNX export and TorchScript tracing write an
            SE block after a frozen BatchNorm and a 1x1 last conv:
            ``'narrow_squeeze'`` (the squeeze from the conv's four times
            narrower input, with the norm folded into the conv),
            ``'folded_gate'`` (also the gate folded into the conv's
            weights: a batched matrix product with runtime weights) or
            ``'output'`` (the eager arithmetic). Equal outputs to float
            rounding. Defaults to ``'narrow_squeeze'``, which cost the
            least or tied in onnxruntime against the plain twin
            (docs/benchmarks.md, "What deploying SE costs: against the
            plain twin").
        stem_pool (str): The stem's 3x3 stride-2 max-pool: ``'pytorch'``
            (padding 1, MMDetection's and torchvision's) or ``'caffe'`` (no
            padding, rounding up: the official Caffe models and their ports,
            such as Cadene's and timm's ``legacy_*``). Feature sizes are the
            same for even inputs, but the pooled values differ at the border;
            use the one the pretrained weights were trained with.
            ``'avg'``: a 2x2 stride-2 average pool, timm's anti-aliased
            (``aa``) models' stem.
        stem_widths (tuple[int, int], optional): Output widths of the deep
            stem's first two 3x3 convs (``deep_stem=True``; the third gives
            ``stem_channels``). Defaults to None: half of ``stem_channels``
            each, MMDetection's and timm's ``d`` models' stem (32-32-64).
            ``(24, 32)`` with ``stem_channels=64`` is timm's tiered stem
            (``t`` models). The ``d`` models also use ``avg_down=True``.
        anti_alias (bool): Downsample inside each block with a 2x2 average
            pool after the 3x3 conv's ReLU, the 3x3 running at stride 1
            (timm's ``aa`` models, after Zhang, arXiv 1904.11486). Use with
            ``stem_pool='avg'`` for those weights. Defaults to False.
        relu_before_se (bool): A ReLU between the residual branch's last
            norm and the SE module (standard position only): timm's
            ``legacy_seresnet18/34`` blocks have it, the paper's do not.
            Defaults to False.
        always_project (bool): Give the first block of every stage a 1x1
            conv shortcut, also where its input and output shapes agree
            (stage 1 of basic-block depths): PaddleClas's SE_ResNet18_vd
            and SE_ResNet34_vd. Defaults to False.

    Example:
        >>> import torch
        >>> from senet_mmdet.models import SEResNet
        >>> model = SEResNet(depth=50).eval()
        >>> for feat in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(feat.shape))
        (1, 256, 16, 16)
        (1, 512, 8, 8)
        (1, 1024, 4, 4)
        (1, 2048, 2, 2)
    """

    arch_settings = se_arch_settings(
        with_timm_depths(ResNet.arch_settings, Bottleneck), {
            BasicBlock: SEBasicBlock,
            Bottleneck: SEBottleneck,
        })

    def __init__(self,
                 depth: int,
                 se_ratio: int = 16,
                 stage_with_se: Optional[Sequence[bool]] = None,
                 se_squeeze: str = 'avg',
                 se_gate: str = 'sigmoid',
                 se_bias: bool = True,
                 se_position: str = 'standard',
                 fuse_se: bool = True,
                 se_export: str = 'narrow_squeeze',
                 stem_pool: str = 'pytorch',
                 stem_widths: Optional[Tuple[int, int]] = None,
                 anti_alias: bool = False,
                 relu_before_se: bool = False,
                 always_project: bool = False,
                 num_stages: int = 4,
                 dcn: Optional[dict] = None,
                 plugins: Optional[list] = None,
                 zero_init_residual: bool = True,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        owner = type(self).__name__
        check_choice(owner, 'depth', depth, self.arch_settings)
        se_cfg = se_module_cfg(owner, se_ratio, se_squeeze, se_gate, se_bias,
                               se_position)
        check_choice(owner, 'stem_pool', stem_pool, STEM_POOLS)
        check_choice(owner, 'se_export', se_export, EXPORT_SE_FORMS)
        self._check_stem_widths(owner, stem_widths, kwargs)
        if relu_before_se and se_position != 'standard':
            raise ValueError(
                f'{owner}: relu_before_se=True puts a ReLU before the SE '
                'module at the standard position; it does not go with '
                f"se_position={se_position!r}")
        if anti_alias and kwargs.get('style', 'pytorch') != 'pytorch':
            raise ValueError(
                f'{owner}: anti_alias=True downsamples after the 3x3 conv, '
                f'which leaves no stride for style={kwargs["style"]!r}; '
                "use style='pytorch'")
        if stage_with_se is None:
            stage_with_se = (True, ) * num_stages
        if not isinstance(stage_with_se, (tuple, list)) or not all(
                isinstance(flag, bool) for flag in stage_with_se):
            raise ValueError(
                f'{owner}: stage_with_se={stage_with_se!r} must be a tuple '
                f'of {num_stages} bools, e.g. (True, True, True, False)')
        if len(stage_with_se) != num_stages:
            raise ValueError(
                f'{owner}: stage_with_se={tuple(stage_with_se)!r} has '
                f'{len(stage_with_se)} entries but num_stages={num_stages}; '
                f'give one bool per stage')
        block = self.arch_settings[depth][0]
        self._check_block_extensions(owner, depth, block, dcn, plugins)

        # Read by make_res_layer, which ResNet.__init__ calls per stage.
        self.se_cfg = se_cfg
        self.se_position = se_position
        self.fuse_se = fuse_se
        self.se_export = se_export
        self.stage_with_se = tuple(stage_with_se)
        self.stem_widths = tuple(stem_widths) if stem_widths else None
        self.anti_alias = anti_alias
        self.relu_before_se = relu_before_se
        self.always_project = always_project
        # ResNet zero-initialises the last norm only when the block class is
        # exactly its own Bottleneck/BasicBlock; the SE blocks say which norm.
        self.block_init_cfg = None
        if zero_init_residual and init_cfg is None and pretrained is None:
            self.block_init_cfg = dict(
                type='Constant',
                val=0,
                override=dict(name=block.last_norm_name))
        super().__init__(
            depth=depth,
            num_stages=num_stages,
            dcn=dcn,
            plugins=plugins,
            zero_init_residual=zero_init_residual,
            pretrained=pretrained,
            init_cfg=init_cfg,
            **kwargs)
        self.stem_pool = stem_pool
        if stem_pool == 'caffe':
            # Caffe's pooling rounds the output size up instead of padding;
            # computed in a form that exports with dynamic input sizes.
            self.maxpool = CaffeMaxPool2d()
        if stem_pool == 'avg':
            # Kept under ResNet's name, which its forward calls.
            self.maxpool = nn.AvgPool2d(kernel_size=2, stride=2)

    @staticmethod
    def _check_stem_widths(owner: str, stem_widths: Optional[Sequence[int]],
                           kwargs: dict) -> None:
        if stem_widths is None:
            return
        if not kwargs.get('deep_stem', False):
            raise ValueError(
                f'{owner}: stem_widths={stem_widths!r} sets the widths of '
                'the deep stem; add deep_stem=True')
        if (not isinstance(stem_widths, (tuple, list))
                or len(stem_widths) != 2
                or not all(isinstance(w, int) and w > 0
                           for w in stem_widths)):
            raise ValueError(
                f'{owner}: stem_widths={stem_widths!r} must be two positive '
                'ints, the widths of the first two stem convs, e.g. (24, 32)')

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if not (self.deep_stem and self.stem_widths):
            super()._make_stem_layer(in_channels, stem_channels)
            return
        # MMDetection's deep stem (3x3/2, 3x3, 3x3, each conv-norm-ReLU,
        # keys stem.0 ... stem.7) with the first two widths given.
        widths = (*self.stem_widths, stem_channels)
        layers = []
        for index, width in enumerate(widths):
            layers.append(
                build_conv_layer(
                    self.conv_cfg,
                    in_channels,
                    width,
                    kernel_size=3,
                    stride=2 if index == 0 else 1,
                    padding=1,
                    bias=False))
            layers.append(build_norm_layer(self.norm_cfg, width)[1])
            layers.append(nn.ReLU(inplace=True))
            in_channels = width
        self.stem = nn.Sequential(*layers)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    @staticmethod
    def _check_block_extensions(owner: str, depth: int, block: type,
                                dcn: Optional[dict],
                                plugins: Optional[list]) -> None:
        """Clear errors where mmdet's blocks would only ``assert``."""
        if issubclass(block, SEBasicBlock) and (dcn or plugins):
            raise ValueError(
                f'{owner}: depth={depth} uses basic blocks, which take '
                'neither dcn nor plugins; use depth 50, 101 or 152')
        for plugin in plugins or ():
            position = plugin.get('position')
            if position not in PLUGIN_POSITIONS:
                raise ValueError(
                    f'{owner}: plugin {plugin.get("cfg")!r} has '
                    f'position={position!r}; choose one of '
                    f'{PLUGIN_POSITIONS} (for the SE module itself use '
                    f'se_position, one of {SE_POSITIONS})')

    def make_res_layer(self, **kwargs) -> ResLayer:
        # ResNet.__init__ builds the stages in order and appends each one's
        # name to res_layers after building it, so this is the stage index.
        stage = len(self.res_layers)
        with_se = self.stage_with_se[stage]
        if with_se:
            out_channels = kwargs['planes'] * kwargs['block'].expansion
            self._check_se_ratio_fits(stage, kwargs['inplanes'], out_channels)
        kwargs['init_cfg'] = self.block_init_cfg
        layer = super().make_res_layer(
            se_cfg=self.se_cfg if with_se else None,
            se_position=self.se_position,
            fuse_se=self.fuse_se,
            se_export=self.se_export,
            anti_alias=self.anti_alias,
            relu_before_se=self.relu_before_se,
            **kwargs)
        if self.always_project and layer[0].downsample is None:
            out_channels = kwargs['planes'] * kwargs['block'].expansion
            layer[0].downsample = self._projection(kwargs['inplanes'],
                                                   out_channels)
        return layer

    def _projection(self, in_channels: int,
                    out_channels: int) -> nn.Sequential:
        """A 1x1 conv and norm shortcut at stride 1, laid out as ResLayer
        lays out its own (behind a no-op pool with ``avg_down``), so the
        keys are ``downsample.0/1`` or ``downsample.1/2`` like the rest."""
        layers = []
        if self.avg_down:
            layers.append(
                nn.AvgPool2d(
                    kernel_size=1,
                    stride=1,
                    ceil_mode=True,
                    count_include_pad=False))
        layers.append(
            build_conv_layer(
                self.conv_cfg,
                in_channels,
                out_channels,
                kernel_size=1,
                stride=1,
                bias=False))
        layers.append(build_norm_layer(self.norm_cfg, out_channels)[1])
        return nn.Sequential(*layers)

    def _check_se_ratio_fits(self, stage: int, inplanes: int,
                             out_channels: int) -> None:
        """The squeeze keeps ``C // se_ratio`` channels: at least one."""
        # SE-PRE gates each block's input, whose first one is narrower.
        narrowest = min(inplanes, out_channels) if (
            self.se_position == 'pre') else out_channels
        ratio = self.se_cfg['ratio']
        if ratio > narrowest:
            raise ValueError(
                f'{type(self).__name__}: se_ratio={ratio} leaves no channel '
                f'in the {narrowest}-channel SE modules of stage {stage + 1} '
                f'({narrowest} // {ratio} = 0); choose se_ratio from 1 to '
                f'{narrowest}')

    def weight_conventions(self) -> Dict[str, Any]:
        """The arguments that pretrained weights must have been trained
        with (:class:`PretrainedTarget`): those that set the architecture,
        where the strides and pools sit, and the SE width."""
        return dict(
            type=type(self).__name__,
            depth=self.depth,
            style=self.style,
            stem_pool=self.stem_pool,
            se_ratio=self.se_cfg['ratio'],
            deep_stem=self.deep_stem,
            stem_channels=self.stem_channels,
            stem_widths=self.stem_widths,
            avg_down=self.avg_down,
            anti_alias=self.anti_alias,
            relu_before_se=self.relu_before_se,
            always_project=self.always_project)

    def start_se_near_identity(self) -> None:
        SqueezeExcitation.start_all_near_identity(self)

    def init_weights(self) -> None:
        # MMDetection's Pretrained init loads with strict=False and knows
        # nothing of the ports' conventions; SE weights load exactly, after
        # conversion if needed, or raise naming what to change.
        if is_pretrained(self.init_cfg):
            init_se_pretrained(self, self.init_cfg)
            return
        super().init_weights()

    def train(self, mode: bool = True) -> 'SEResNet':
        # ResNet.train() returns None, which breaks `model = model.eval()`.
        super().train(mode)
        return self
