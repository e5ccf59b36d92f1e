"""The package's modules import each other in one direction only: the
import graph drawn from their source has no circle, and the backbones and
the checkpoint formats stay out of each other's way."""
import ast
from pathlib import Path
from typing import Dict, List, Set

PACKAGE = Path(__file__).parents[1] / 'senet_mmdet'


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imported_modules(path: Path, modules: Set[str]) -> Set[str]:
    """The package's modules that ``path`` imports, wherever in the file
    (a function-level import is an edge too). ``from a import b`` is an
    edge to ``a.b`` where that is a module, else to ``a``."""
    name = module_name(path)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                module = [node.module] if node.module else []
                source = '.'.join(base + module)
            else:
                source = node.module
            for alias in node.names:
                child = f'{source}.{alias.name}'
                found.add(child if child in modules else source)
    return {module for module in found if module in modules} - {name}


def import_graph() -> Dict[str, Set[str]]:
    paths = sorted(PACKAGE.rglob('*.py'))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, modules)
            for path in paths}


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One circle through each module that lies on one (depth-first)."""
    found, done = [], set()

    def visit(module, trail):
        if module in trail:
            found.append(trail[trail.index(module):] + [module])
            return
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, trail + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return found


def test_the_graph_sees_the_imports_that_are_there():
    graph = import_graph()
    assert 'senet_mmdet.checkpoints.common' in graph[
        'senet_mmdet.checkpoints.converters']
    assert 'senet_mmdet.checkpoints.formats.caffe' in graph
    assert 'senet_mmdet.models.layers.se' in graph[
        'senet_mmdet.models.backbones.seresnet']


def test_a_circle_is_found_where_there_is_one():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert cycles(graph) == [['a', 'b', 'c', 'a']]
    assert cycles({'a': {'b'}, 'b': set()}) == []


def test_the_package_has_no_import_circle():
    assert cycles(import_graph()) == []


def test_models_and_checkpoints_do_not_import_each_other():
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith('senet_mmdet.models'):
            assert not {t for t in targets
                        if t.startswith('senet_mmdet.checkpoints')}, module
        if module.startswith('senet_mmdet.checkpoints'):
            assert not {t for t in targets
                        if t.startswith('senet_mmdet.models')}, module


def test_each_format_imports_only_the_shared_module():
    graph = import_graph()
    formats = [m for m in graph
               if m.startswith('senet_mmdet.checkpoints.formats.')]
    assert {m.rpartition('.')[2] for m in formats} == {
        'caffe', 'legacy', 'mmpretrain', 'paddleclas', 'timm'}
    for module in formats:
        assert graph[module] == {'senet_mmdet.checkpoints.common'}, module


def test_the_se_module_is_below_its_fused_and_exported_forms():
    """se.py is the module; se_fused.py computes it fused with the norm
    before it, se_export.py writes it into an exported graph (its eager
    form through the fused step). Each form builds on the module, never
    the other way round."""
    graph = import_graph()
    layers = 'senet_mmdet.models.layers.'
    module, fused, export = (layers + name
                             for name in ('se', 'se_fused', 'se_export'))
    assert module in graph[fused]
    assert {module, fused} <= graph[export]
    assert not {fused, export} & graph[module]
    assert export not in graph[fused]


def test_loading_and_the_models_meet_in_an_interface_below_both():
    """The backbones and the C4 head implement PretrainedTarget (the
    conventions their weights must match, the near-identity start), and
    the loader calls it: an interface that imports nothing of the package,
    so that the models and the checkpoints still import neither each other
    nor anything that imports them."""
    graph = import_graph()
    interface = 'senet_mmdet.pretrained_target'
    assert graph[interface] == set()
    for module in ('senet_mmdet.checkpoints.loading',
                   'senet_mmdet.models.backbones.seresnet',
                   'senet_mmdet.models.roi_heads.se_res_layer'):
        assert interface in graph[module], module


# The package's layers, lowest first: a module imports modules of its own
# layer or of lower ones, never of a higher one. Seeds and generator states
# (randomness) sit below the data and the engine that both draw from them;
# the command line (cli, for tools/train.py and test.py) and the package's
# __init__ (which registers everything) are the top.
LAYERS = [
    {'version', 'registry', 'utils', 'arch_settings', 'pretrained_target',
     'randomness'},
    {'models', 'checkpoints', 'datasets'},
    {'engine'},
    {'apis'},
    {'cli', ''},
]


def layer(module: str) -> int:
    """The layer of a module: that of its first name below the package
    (``''`` for the package's ``__init__``)."""
    part = module.split('.')[1] if '.' in module else ''
    return next(index for index, names in enumerate(LAYERS) if part in names)


def test_every_module_has_a_layer():
    for module in import_graph():
        layer(module)


def test_no_module_imports_a_higher_layer():
    graph = import_graph()
    upward = [(module, target) for module, targets in graph.items()
              for target in targets if layer(target) > layer(module)]
    assert upward == []


def test_a_higher_layer_is_found_where_one_is_imported():
    assert layer('senet_mmdet.engine.loops') > layer(
        'senet_mmdet.datasets.samplers')
    assert layer('senet_mmdet.cli') > layer('senet_mmdet.apis.config')
    assert layer('senet_mmdet.randomness') == 0


def test_randomness_imports_nothing_of_the_package():
    assert import_graph()['senet_mmdet.randomness'] == set()


def test_only_the_tools_import_the_command_line_module():
    graph = import_graph()
    assert [module for module, targets in graph.items()
            if 'senet_mmdet.cli' in targets] == []
