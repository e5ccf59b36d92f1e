import pytest
from mmengine import registry as mmengine_registry

from mmdet import registry as mmdet_registry
from senet_mmdet import registry
from senet_mmdet.models import SEResNet

NODES = [name for name in dir(registry) if name.isupper() and name != 'SCOPE']


def test_one_node_under_each_mmdet_registry():
    mmdet_nodes = {
        name for name in dir(mmdet_registry)
        if getattr(getattr(mmdet_registry, name), 'scope', None) == 'mmdet'
    }
    assert set(NODES) == mmdet_nodes
    for name in NODES:
        node = getattr(registry, name)
        assert node.scope == 'senet_mmdet'
        assert node.parent is getattr(mmdet_registry, name)


@pytest.mark.parametrize('registry_name, cfg, expected', [
    ('MODELS', dict(type='SEResNet', depth=18), SEResNet),
    ('TRANSFORMS', dict(type='LoadImageFromFile'), None),
    ('HOOKS', dict(type='NumClassCheckHook'), None),
])
def test_configs_tagged_with_the_scope_build_from_the_root(
        registry_name, cfg, expected):
    """What a Runner does with a dict first defined in a `senet_mmdet::`
    base: build it from mmengine's root registry under `_scope_`."""
    root = getattr(mmengine_registry, registry_name)
    built = root.build(dict(cfg, _scope_='senet_mmdet'))
    assert type(built).__name__ == cfg['type']
    if expected is not None:
        assert isinstance(built, expected)
