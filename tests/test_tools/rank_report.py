"""A hook the launcher tests add to a training through ``custom_imports``:
each rank says what it saw, and one rank can be killed on purpose.

Environment (torchrun and srun hand it to every rank):
    RANK_REPORT_DIR   where each rank writes ``rank{r}.json`` (its rank and
                      world size) and ``rank{r}.pth`` (its model's weights)
                      after the last step
    KILL_RANK, KILL_AT_ITER   that rank SIGKILLs itself before that global
                      iteration (0-based), writing ``killed.json`` (rank and
                      time) first, as the out-of-memory killer would
    TERM_AGENT_AT_ITER  rank 0 sends SIGTERM to its parent (torchrun's
                      agent) before that global iteration, writing
                      ``signalled.json`` (time) first
    TERM_RANK_AT_ITER   rank 0 sends SIGTERM to itself (not to the agent)
                      before that global iteration
Each happens in a job's first attempt only (TORCHELASTIC_RESTART_COUNT 0
or unset), so a worker that torchrun restarts and that resumes before that
iteration is not killed or signalled again.
Rank 0 also writes ``progress.json`` (the iterations done) after each
iteration, for a test that signals a job from outside.
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
        if os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') != '0':
            return
        if (get_rank() == 0 and os.environ.get('TERM_RANK_AT_ITER') == str(
                runner.iter)):
            os.kill(os.getpid(), signal.SIGTERM)
        if (os.environ.get('KILL_RANK') == str(get_rank())
                and os.environ.get('KILL_AT_ITER') == str(runner.iter)):
            killed = dict(rank=get_rank(), iter=runner.iter, time=time.time())
            (Path(os.environ['RANK_REPORT_DIR']) / 'killed.json').write_text(
                json.dumps(killed))
            os.kill(os.getpid(), signal.SIGKILL)
        if (get_rank() == 0 and os.environ.get('TERM_AGENT_AT_ITER') == str(
                runner.iter)):
            (Path(os.environ['RANK_REPORT_DIR']) /
             'signalled.json').write_text(json.dumps(dict(time=time.time())))
            os.kill(os.getppid(), signal.SIGTERM)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if get_rank() == 0:
            (Path(os.environ['RANK_REPORT_DIR']) / 'progress.json').write_text(
                json.dumps(dict(iter=runner.iter + 1, time=time.time())))

    def after_train(self, runner):
        folder = Path(os.environ['RANK_REPORT_DIR'])
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        rank = get_rank()
        torch.save(model.state_dict(), folder / f'rank{rank}.pth')
        (folder / f'rank{rank}.json').write_text(
            json.dumps(dict(rank=rank, world_size=get_world_size(),
                            iter=runner.iter)))
