"""A hook the launcher tests add to a training through ``custom_imports``:
each rank says what it saw, and one rank can be killed on purpose.

Environment (torchrun and srun hand it to every rank):
    RANK_REPORT_DIR   where each rank writes ``rank{r}.json`` (its rank and
                      world size) and ``rank{r}.pth`` (its model's weights)
                      after the last step
    KILL_RANK, KILL_AT_ITER   that rank SIGKILLs itself before that global
                      iteration (0-based), writing ``killed.json`` (rank and
                      time) first, as the out-of-memory killer would
"""
import json
import os
import signal
import time
from pathlib import Path

import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS


@HOOKS.register_module()
class RankReportHook(Hook):

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if (os.environ.get('KILL_RANK') == str(get_rank())
                and os.environ.get('KILL_AT_ITER') == str(runner.iter)):
            killed = dict(rank=get_rank(), iter=runner.iter, time=time.time())
            (Path(os.environ['RANK_REPORT_DIR']) / 'killed.json').write_text(
                json.dumps(killed))
            os.kill(os.getpid(), signal.SIGKILL)

    def after_train(self, runner):
        folder = Path(os.environ['RANK_REPORT_DIR'])
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        rank = get_rank()
        torch.save(model.state_dict(), folder / f'rank{rank}.pth')
        (folder / f'rank{rank}.json').write_text(
            json.dumps(dict(rank=rank, world_size=get_world_size(),
                            iter=runner.iter)))
