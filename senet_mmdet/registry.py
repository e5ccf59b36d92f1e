"""The ``senet_mmdet`` scope: one child node under each MMDetection registry.

A config inherited as ``senet_mmdet::<folder>/<file>.py`` is tagged by
mmengine with ``_scope_='senet_mmdet'``; building it imports this module and
looks the scope up in the registry tree. The nodes hold nothing of their own:
every lookup falls through to MMDetection's registries, where this package
registers its modules, so one config builds the same under either scope.
"""
from mmengine.registry import Registry

from mmdet import registry as mmdet_registry

SCOPE = 'senet_mmdet'


def _scope_node(parent: Registry) -> Registry:
    # A lookup imports the locations of the node it starts from, then reads
    # its ancestors' tables as they stand: the node carries MMDetection's
    # locations so that mmdet's lazily imported modules are there. Without
    # locations, mmengine would call `senet_mmdet.utils.register_all_modules`.
    return Registry(
        parent.name,
        parent=parent,
        scope=SCOPE,
        locations=['senet_mmdet', *parent._locations])


RUNNERS = _scope_node(mmdet_registry.RUNNERS)
RUNNER_CONSTRUCTORS = _scope_node(mmdet_registry.RUNNER_CONSTRUCTORS)
LOOPS = _scope_node(mmdet_registry.LOOPS)
HOOKS = _scope_node(mmdet_registry.HOOKS)
DATASETS = _scope_node(mmdet_registry.DATASETS)
DATA_SAMPLERS = _scope_node(mmdet_registry.DATA_SAMPLERS)
TRANSFORMS = _scope_node(mmdet_registry.TRANSFORMS)
MODELS = _scope_node(mmdet_registry.MODELS)
MODEL_WRAPPERS = _scope_node(mmdet_registry.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _scope_node(mmdet_registry.WEIGHT_INITIALIZERS)
OPTIMIZERS = _scope_node(mmdet_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _scope_node(mmdet_registry.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _scope_node(
    mmdet_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _scope_node(mmdet_registry.PARAM_SCHEDULERS)
METRICS = _scope_node(mmdet_registry.METRICS)
EVALUATOR = _scope_node(mmdet_registry.EVALUATOR)
TASK_UTILS = _scope_node(mmdet_registry.TASK_UTILS)
VISUALIZERS = _scope_node(mmdet_registry.VISUALIZERS)
VISBACKENDS = _scope_node(mmdet_registry.VISBACKENDS)
LOG_PROCESSORS = _scope_node(mmdet_registry.LOG_PROCESSORS)
