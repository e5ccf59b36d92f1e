"""Which epochs' evaluations finished, so that one a kill or a signal
interrupted runs again when the run resumes."""
import json
import os.path as osp
from typing import List

from mmengine.dist import is_main_process

from .checkpoint import write_text_atomically

# In the work dir: the epochs whose evaluation finished, as a JSON list.
EVALUATED_FILE = 'evaluated_epochs.json'


class EvaluationLedger:
    """The record of finished evaluations of an epoch-based run in
    ``work_dir`` (``evaluated_epochs.json``).

    mmengine saves the epoch's checkpoint before it evaluates: a run
    stopped during the evaluation resumes after the epoch, and its metrics
    would be missing for good.
    """

    def __init__(self, work_dir: str) -> None:
        self.path = osp.join(work_dir, EVALUATED_FILE)

    def evaluated(self) -> List[int]:
        if not osp.isfile(self.path):
            return []
        with open(self.path) as file:
            return json.load(file)

    def record(self, epoch: int) -> None:
        """Record that ``epoch``'s evaluation finished (the main process
        writes)."""
        if not is_main_process():
            return
        evaluated = self.evaluated()
        if epoch not in evaluated:
            write_text_atomically(self.path,
                                  json.dumps(sorted([*evaluated, epoch])))

    def cut_short(self, loop, epoch: int) -> bool:
        """Whether the evaluation that ``loop`` (epoch-based) schedules
        after ``epoch`` has no record of finishing."""
        scheduled = epoch >= loop.val_begin and (
            epoch % loop.val_interval == 0 or epoch == loop.max_epochs)
        return scheduled and epoch not in self.evaluated()
