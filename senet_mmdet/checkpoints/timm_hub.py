"""``timm://<name>`` checkpoints: timm's own hub loading, converted on the
fly, e.g. ``init_cfg=dict(type='Pretrained',
checkpoint='timm://seresnet50.a1_in1k')``.

timm downloads its newer weights through the Hugging Face hub into
``$HF_HOME/hub`` (by default ``~/.cache/huggingface/hub``) and the
``legacy_*`` ones from URLs into torch's hub folder
(``~/.cache/torch/hub/checkpoints``); a file already there loads without a
network (set ``HF_HUB_OFFLINE=1`` to skip the hub's connection attempt).
"""
import os

import torch

from mmengine.runner import CheckpointLoader

from .common import CHECKPOINT_OPTIONS, WeightsNotFetchedError
from .converters import convert_state_dict, detect_format

PREFIX = 'timm://'


def _cache_dirs() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:
        HF_HUB_CACHE = os.path.expanduser('~/.cache/huggingface/hub')
    torch_hub = os.path.join(torch.hub.get_dir(), 'checkpoints')
    return f'Hugging Face cache {HF_HUB_CACHE}, torch hub {torch_hub}'


def _download_address(name: str) -> str:
    """Where timm fetches ``name``'s weights from: its Hugging Face repo, or
    the URL of the ``legacy_*`` files."""
    import timm
    pretrained = timm.models.get_pretrained_cfg(name)
    if pretrained is None:
        return f'https://huggingface.co/timm/{name}'
    if pretrained.hf_hub_id:
        return (f'https://huggingface.co/{pretrained.hf_hub_id} '
                '(model.safetensors)')
    return pretrained.url


@CheckpointLoader.register_scheme(prefixes=PREFIX)
def load_from_timm(filename: str, map_location=None) -> dict:
    """Build timm's model ``name`` with its pretrained weights and return
    them converted, with their conventions in ``meta``."""
    name = filename[len(PREFIX):]
    try:
        import timm
    except ImportError:
        raise ImportError(f'{filename} needs timm: pip install timm') from None
    architecture = name.split('.')[0]
    if not timm.is_model(architecture):
        se_models = timm.list_models('*se*res*') + timm.list_models('*senet*')
        raise ValueError(
            f'{filename}: timm has no model {architecture!r}; its SE models '
            f'include {sorted(set(se_models))[:12]}')
    try:
        model = timm.create_model(name, pretrained=True)
    except Exception as error:  # hub errors differ between versions
        raise WeightsNotFetchedError(
            f"{filename}: timm could not load the weights ({error}). They "
            f'are not in the local caches ({_cache_dirs()}) or could not '
            'be downloaded. On a machine with internet run '
            f"`python -c \"import timm; timm.create_model('{name}', "
            "pretrained=True)\"`, then copy those cache folders here (or "
            'point HF_HOME / TORCH_HOME at copies) and set '
            'HF_HUB_OFFLINE=1; or download the file itself, '
            f'{_download_address(name)}, and pass its path with '
            f'{CHECKPOINT_OPTIONS}.') from None
    # timm's anti-aliased models put 2x2 average pools where the strides
    # were; they hold no tensors, so the built model tells, not the keys.
    anti_alias = any(
        isinstance(module, torch.nn.AvgPool2d)
        for name, module in model.named_modules()
        if name == 'maxpool' or name.endswith('.aa'))
    state_dict = model.state_dict()
    source = detect_format(state_dict)
    state_dict, conventions = convert_state_dict(
        state_dict, source, anti_alias if source == 'timm' else None)
    return dict(
        state_dict=state_dict,
        meta=dict(senet_mmdet=conventions.to_meta(), timm_name=name))
