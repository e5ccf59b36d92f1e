"""Stopping a run on a signal, once its checkpoint is saved, and keeping a
job that a signal stopped from training again when an elastic launcher
restarts it in place."""
import json
import os
import os.path as osp
from typing import NoReturn, Optional, Sequence

from mmengine.dist import is_main_process

from .checkpoint import write_text_atomically
from .signals import StopRequests

# The exit status of a run that a signal stopped after saving: EX_TEMPFAIL
# of sysexits.h, "try again later". tools/slurm_batch.sh requeues on it.
RESUMABLE_EXIT_CODE = 75
# Written when a signal stopped the run: a restart of the job in place by an
# elastic launcher (torchrun --max-restarts) stops at once instead of
# training until the launcher's hard kill.
STOPPED_FILE = 'stopped_on_signal.json'
# How to go on, true for MMDetection's tools/train.py and ours alike.
RESUME_HINT = ('resume by running the same training command with --resume '
               '(the same config, work dir, launcher and processes)')


class TrainingInterrupted(Exception):
    """A signal stopped the run after its checkpoint was saved; the
    message says where and how to resume."""


class StopGuard:
    """Turns the signals ``names`` into a stop of the run that every rank
    makes at the same step (:class:`StopRequests`), and records it, so that
    a restart in place of the stopped job stops again.

    A signal asks the job to stop, also under an elastic launcher: when
    torchrun restarts the workers in place after they stopped with status
    75 (``TORCHELASTIC_RESTART_COUNT`` > 0 and ``stopped_on_signal.json``
    in the work dir), :meth:`refuse_a_restart` stops them again before
    training; a new job (restart count 0) resumes.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.requests = StopRequests(names)

    def install(self) -> None:
        self.requests.install()

    def uninstall(self) -> None:
        self.requests.uninstall()

    def agreed(self) -> Optional[str]:
        """The signal some rank received, the same on every rank, or None
        (:meth:`StopRequests.agreed`)."""
        return self.requests.agreed()

    def refuse_a_restart(self, work_dir: str) -> None:
        """Raise :class:`TrainingInterrupted` when an elastic launcher
        restarted in place a job that a signal stopped; a new job forgets
        the stop."""
        path = osp.join(work_dir, STOPPED_FILE)
        restart = int(os.environ.get('TORCHELASTIC_RESTART_COUNT', 0))
        if restart and osp.isfile(path):
            with open(path) as file:
                stopped = json.load(file)
            raise TrainingInterrupted(
                f'{stopped["signal"]} stopped this job after '
                f'{stopped["where"]} and the launcher restarted it in place '
                f'(restart {restart}): not training again, since a signal '
                'asks the job to stop. Start a new job with --resume to go '
                f'on from {stopped["checkpoint"]}')
        if is_main_process() and osp.isfile(path):
            os.remove(path)

    def stop(self, work_dir: str, signal_name: str, where: str,
             checkpoint: Optional[str]) -> NoReturn:
        """Stop the run after ``where``, whose state ``checkpoint`` holds:
        ignore the signals from now on (:meth:`StopRequests.ignore`),
        record the stop and raise :class:`TrainingInterrupted`."""
        self.requests.ignore()
        if is_main_process():
            write_text_atomically(
                osp.join(work_dir, STOPPED_FILE),
                json.dumps(dict(signal=signal_name, where=where,
                                checkpoint=checkpoint)))
        raise TrainingInterrupted(
            f'{signal_name} received: training stopped after {where}; '
            f'{checkpoint} holds everything up to there (named in '
            f'{osp.join(work_dir, "last_checkpoint")}); {RESUME_HINT}')
