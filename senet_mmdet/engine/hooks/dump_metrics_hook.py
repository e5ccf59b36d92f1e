"""Write a test run's metrics, and what produced them, to the work dir."""
import json
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS


def _describe_model(model: dict) -> dict:
    """The fields of a model config that tell runs apart in a table."""
    backbone = model.get('backbone', {})
    shared_head = model.get('roi_head', {}).get('shared_head')
    return dict(
        detector=model.get('type'),
        backbone=backbone.get('type'),
        depth=backbone.get('depth'),
        groups=backbone.get('groups'),
        neck=(model.get('neck') or {}).get('type'),
        shared_head=shared_head.get('type') if shared_head else None)


@HOOKS.register_module()
class DumpMetricsHook(Hook):
    """After testing, write ``{work_dir}/{out_file}`` (JSON) with the metrics
    and the config, checkpoint and model that produced them, for
    ``tools/analysis/paper_table.py`` to collect. Only rank 0 writes: the
    evaluator has already gathered every rank's results.

    Args:
        out_file (str): File name inside the work dir.
            Defaults to ``'test_metrics.json'``.
    """

    priority = 'VERY_LOW'

    def __init__(self, out_file: str = 'test_metrics.json') -> None:
        self.out_file = out_file

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        if not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        description = _describe_model(runner.cfg.model)
        # The detector's size, for the parameters row of the paper table.
        description['parameters'] = sum(p.numel() for p in model.parameters())
        record = dict(
            config=runner.cfg.filename,
            checkpoint=runner.cfg.get('load_from'),
            model=description,
            metrics=metrics or {})
        with open(osp.join(runner.work_dir, self.out_file), 'w') as file:
            # COCO metrics are floats; anything else is written as text.
            json.dump(record, file, indent=2, default=str)
