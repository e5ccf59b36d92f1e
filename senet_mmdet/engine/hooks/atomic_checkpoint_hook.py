"""mmengine's CheckpointHook, safe against a kill, a signal or a full disk
at any moment."""
import errno
import glob
import json
import os
import os.path as osp
import shutil
from typing import List, Optional, Sequence

import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from mmdet.registry import HOOKS
from senet_mmdet.datasets.seeding import random_states
from ..checkpoint import (PARTIAL_SUFFIX, CheckpointError,
                          commit_checkpoint, from_weights_only,
                          to_weights_only, write_text_atomically)
from ..loops import ResumableEpochBasedTrainLoop
from ..signals import DEFAULT_SIGNALS, StopRequests

# The exit status of a run that a signal stopped after saving: EX_TEMPFAIL
# of sysexits.h, "try again later". tools/slurm_batch.sh requeues on it.
RESUMABLE_EXIT_CODE = 75
# Where a checkpoint written mid-epoch keeps what resuming needs.
RESUME_KEY = 'senet_mmdet_resume'
# Epochs whose evaluation finished, in the work dir: an evaluation that a
# kill or a signal interrupted is run again when the run resumes.
EVALUATED_FILE = 'evaluated_epochs.json'
# Written when a signal stopped the run: a restart of the job in place by an
# elastic launcher (torchrun --max-restarts) stops at once instead of
# training until the launcher's hard kill.
STOPPED_FILE = 'stopped_on_signal.json'
# A checkpoint written within an epoch: the epoch in progress (from 1) and
# the iterations done (as in mmengine's iter_N.pth).
MID_EPOCH_TEMPLATE = 'epoch_{}_iter_{}.pth'


class TrainingInterrupted(Exception):
    """A signal stopped the run after its checkpoint was saved; the
    message says where and how to resume."""


class CheckpointSaveError(RuntimeError):
    """A checkpoint could not be written; the message names the work dir,
    what was needed, and what is still on disk."""


def tensor_bytes(state) -> int:
    """Bytes of the tensors in a (nested) state dict."""
    leaves, _ = torch.utils._pytree.tree_flatten(state)
    return sum(leaf.numel() * leaf.element_size() for leaf in leaves
               if isinstance(leaf, torch.Tensor))


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """Save checkpoints as :class:`CheckpointHook` does (same arguments),
    so that no event loses more than it must:

    - each checkpoint is written to ``<name>.partial``, loaded back, forced
      to disk and only then renamed to its name (a kill mid-save leaves the
      previous checkpoints as they were; mmengine writes in place);
    - checkpoints beyond ``max_keep_ckpts`` are deleted after the new one is
      complete (mmengine deletes first), and ``last_checkpoint`` is replaced
      atomically after that, so it always names a complete file;
    - the file loads with ``torch.load(weights_only=True)``
      (:func:`to_weights_only`), and resuming turns its message hub back
      into mmengine's objects (:func:`from_weights_only`);
    - a signal in ``save_on_signals`` stops the run at the end of the
      iteration (or evaluation batch) it arrives in, on every rank at the
      same one; the run saves (unless its newest checkpoint is of that
      iteration) and raises :class:`TrainingInterrupted`, which our
      ``tools/train.py`` turns into exit status 75. In an epoch-based run
      that checkpoint is written mid-epoch (``epoch_E_iter_N.pth``) with the
      batches done and every rank's random generators, from which
      :class:`ResumableEpochBasedTrainLoop` continues exactly;
    - ``mid_epoch_interval=N`` also writes such a checkpoint every N
      iterations, keeping only the newest, so a kill -9 loses at most N
      iterations;
    - an evaluation that did not finish (killed or signalled) runs again
      when the run resumes from the checkpoint before it;
    - a signal asks the job to stop, also under an elastic launcher: when
      torchrun restarts the workers in place after they stopped with status
      75 (``TORCHELASTIC_RESTART_COUNT`` > 0 and ``stopped_on_signal.json``
      in the work dir), they stop again before training, with status 75;
      a new job (restart count 0) resumes;
    - a full disk removes the fragment at once and stops the run with
      :class:`CheckpointSaveError`, naming the space needed and free; the
      previous checkpoint stays. Before training, a work dir with less free
      space than two checkpoints is warned about.

    Storage other than the local file system (``backend_args``) keeps
    mmengine's own saving.

    Args:
        save_on_signals (Sequence[str]): Signal names that save and stop
            the run. Defaults to SIGTERM, SIGUSR1 and SIGUSR2; ``()`` for
            none (the signals then act as they would without the hook).
        mid_epoch_interval (int): Iterations between mid-epoch checkpoints
            in an epoch-based run; 0 (the default) writes none.
        **kwargs: :class:`CheckpointHook`'s arguments.
    """

    def __init__(self,
                 *args,
                 save_on_signals: Sequence[str] = DEFAULT_SIGNALS,
                 mid_epoch_interval: int = 0,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stop_requests = StopRequests(save_on_signals)
        if not isinstance(mid_epoch_interval, int) or mid_epoch_interval < 0:
            raise ValueError(
                f'mid_epoch_interval={mid_epoch_interval!r}: give the '
                'iterations between mid-epoch checkpoints as an int >= 1, '
                'or 0 for none')
        self.mid_epoch_interval = mid_epoch_interval
        self._resume: Optional[dict] = None
        self._saved_iter = -1

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._stop_a_restart_after_a_stop(runner)
        if self._atomic() and is_main_process():
            # Fragments of saves that a kill interrupted.
            for fragment in glob.glob(
                    osp.join(glob.escape(self.out_dir), '*' + PARTIAL_SUFFIX)):
                os.remove(fragment)
            self._warn_if_short_of_space(runner)
        if self._within_epoch(runner) or self._iteration_based(runner):
            self.stop_requests.install()
        elif self.stop_requests.numbers or self.mid_epoch_interval:
            runner.logger.warning(
                'save_on_signals and mid_epoch_interval need '
                "train_cfg.type='ResumableEpochBasedTrainLoop' in an "
                "epoch-based run (senet_mmdet's tools/train.py sets it): "
                'signals are left to their default action and no '
                'mid-epoch checkpoint is written')
        self._saved_iter = runner.iter
        resume, self._resume = self._resume, None
        if runner.iter == 0:
            # Nothing was resumed (load_from only loads the weights).
            return
        if resume is not None:
            self._resume_within_epoch(runner, resume)
        elif self._evaluation_was_cut_short(runner):
            runner.logger.info(
                f'the evaluation after epoch {runner.epoch} did not finish '
                'before the run stopped: running it again')
            runner.val_loop.run()

    def after_train(self, runner) -> None:
        self.stop_requests.uninstall()
        super().after_train(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        to_weights_only(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        from_weights_only(checkpoint)
        # Applied in before_train, once the loop knows it resumed.
        self._resume = checkpoint.get('meta', {}).get(RESUME_KEY)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        done = runner.iter + 1
        signal_name = self.stop_requests.agreed()
        if self._within_epoch(runner):
            periodic = (self.mid_epoch_interval
                        and done % self.mid_epoch_interval == 0
                        and not self._epoch_checkpoint_due(runner, batch_idx))
            if periodic or signal_name:
                self._save_mid_epoch(runner, done, batch_idx + 1)
        elif (signal_name and self._iteration_based(runner)
              and self._saved_iter != done):
            # An ordinary iter_N.pth, which mmengine resumes at that
            # iteration.
            self._save_checkpoint_with_step(
                runner, done, meta=dict(epoch=runner.epoch, iter=done))
        if signal_name:
            self._stop(runner, signal_name,
                       f'iteration {done} (epoch {runner.epoch + 1}, '
                       f'batch {batch_idx + 1})')

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch=None,
                       outputs=None) -> None:
        signal_name = self.stop_requests.agreed()
        if not signal_name:
            return
        if self._saved_iter != runner.iter:
            # The epoch's training is not in any checkpoint yet.
            meta = dict(epoch=runner.epoch, iter=runner.iter)
            if self._within_epoch(runner):
                # The end of epoch E: resumes as epoch_E.pth would.
                self._write(
                    runner,
                    MID_EPOCH_TEMPLATE.format(runner.epoch, runner.iter),
                    meta)
            else:
                self._save_checkpoint_with_step(runner, runner.iter, meta)
        if self._epoch_based(runner):
            where = (f'evaluation batch {batch_idx + 1} after epoch '
                     f'{runner.epoch}; the evaluation runs again on resume')
        else:
            where = (f'evaluation batch {batch_idx + 1} after iteration '
                     f'{runner.iter}')
        self._stop(runner, signal_name, where)

    def after_val_epoch(self, runner, metrics) -> None:
        super().after_val_epoch(runner, metrics)
        if not is_main_process() or not self._epoch_based(runner):
            return
        path = osp.join(runner.work_dir, EVALUATED_FILE)
        evaluated = self._evaluated(runner)
        if runner.epoch not in evaluated:
            write_text_atomically(
                path, json.dumps(sorted([*evaluated, runner.epoch])))

    def _atomic(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    @staticmethod
    def _within_epoch(runner) -> bool:
        return isinstance(runner.train_loop, ResumableEpochBasedTrainLoop)

    @staticmethod
    def _iteration_based(runner) -> bool:
        return isinstance(runner.train_loop, IterBasedTrainLoop)

    @staticmethod
    def _epoch_based(runner) -> bool:
        # runner.train_loop builds the loop when first read: look at the
        # attribute, which a test or validation run leaves as a config.
        return isinstance(runner._train_loop, EpochBasedTrainLoop)

    def _epoch_checkpoint_due(self, runner, batch_idx: Optional[int]) -> bool:
        """Whether the epoch ends (after ``batch_idx``, if given) with an
        epoch checkpoint, as :meth:`after_train_epoch` decides."""
        if batch_idx is not None and (batch_idx + 1 !=
                                      len(runner.train_dataloader)):
            return False
        return self.by_epoch and (
            self.every_n_epochs(runner, self.interval, self.save_begin) or
            (self.save_last and self.is_last_train_epoch(runner)))

    def _save_mid_epoch(self, runner, done: int, batches: int) -> None:
        """Write ``epoch_{e}_iter_{done}.pth`` with what resuming within
        the epoch needs."""
        # Every rank's generators: their states differ once the data do.
        states = all_gather_object(random_states())
        meta = dict(epoch=runner.epoch, iter=done)
        meta[RESUME_KEY] = dict(batches=batches, random_states=states)
        self._write(runner, MID_EPOCH_TEMPLATE.format(runner.epoch + 1, done),
                    meta)

    def _remove_other_mid_epoch_files(self) -> None:
        """Once a newer checkpoint is complete, the mid-epoch ones before
        it are not needed to resume: only the newest is kept."""
        for path in glob.glob(
                osp.join(glob.escape(self.out_dir),
                         MID_EPOCH_TEMPLATE.format('*', '*'))):
            if path != self.last_ckpt:
                os.remove(path)

    def _resume_within_epoch(self, runner, resume: dict) -> None:
        if not self._within_epoch(runner):
            raise CheckpointError(
                'the checkpoint was written in the middle of an epoch; '
                "resuming it needs train_cfg.type='ResumableEpochBasedTrain"
                "Loop' (senet_mmdet's tools/train.py sets it)")
        states = resume['random_states']
        if len(states) != get_world_size():
            runner.logger.warning(
                f'the checkpoint was written by {len(states)} processes and '
                f'this run has {get_world_size()}: it resumes at the same '
                'batch, but with other random numbers than an '
                'uninterrupted run')
            states = [None] * get_world_size()
        runner.train_loop.resume_within_epoch(resume['batches'],
                                              states[get_rank()])
        runner.logger.info(
            f'resuming epoch {runner.epoch + 1} after its batch '
            f'{resume["batches"]} of {len(runner.train_dataloader)}')

    def _evaluated(self, runner) -> List[int]:
        path = osp.join(runner.work_dir, EVALUATED_FILE)
        if not osp.isfile(path):
            return []
        with open(path) as file:
            return json.load(file)

    def _evaluation_was_cut_short(self, runner) -> bool:
        """Whether the evaluation scheduled after the resumed epoch has no
        record of finishing."""
        loop = runner.train_loop
        if runner.val_loop is None or not self._epoch_based(runner):
            return False
        epoch = runner.epoch
        scheduled = epoch >= loop.val_begin and (
            epoch % loop.val_interval == 0 or epoch == loop.max_epochs)
        return scheduled and epoch not in self._evaluated(runner)

    def _stop_a_restart_after_a_stop(self, runner) -> None:
        path = osp.join(runner.work_dir, STOPPED_FILE)
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

    def _stop(self, runner, signal_name: str, where: str) -> None:
        self.stop_requests.ignore()
        if is_main_process():
            write_text_atomically(
                osp.join(runner.work_dir, STOPPED_FILE),
                json.dumps(dict(signal=signal_name, where=where,
                                checkpoint=self.last_ckpt)))
        command = (f'python tools/train.py {runner.cfg.filename} --work-dir '
                   f'{runner.work_dir} --resume')
        raise TrainingInterrupted(
            f'{signal_name} received: training stopped after {where}; '
            f'{self.last_ckpt} holds everything up to there (named in '
            f'{osp.join(runner.work_dir, "last_checkpoint")}). Resume with '
            f'{command} (with the same launcher and processes)')

    def _outdated(self, runner, step: int) -> List[str]:
        """Update the kept steps for a save at ``step`` as mmengine does,
        returning the files to delete instead of deleting them."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return []
        outdated = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            oldest = self.keep_ckpt_ids.popleft()
            outdated.append(
                osp.join(self.out_dir, self.filename_tmpl.format(oldest)))
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return outdated

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        if not self._atomic():
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        outdated = self._outdated(runner, step)
        self._write(runner, self.filename_tmpl.format(step), meta)
        if is_main_process():
            for path in outdated:
                if osp.isfile(path):
                    os.remove(path)

    def _write(self, runner, filename: str, meta: dict) -> None:
        """Write ``filename`` atomically and name it in ``last_checkpoint``
        (on the main process: ``Runner.save_checkpoint`` writes there
        only). Other storage than local files gets mmengine's own save."""
        previous = self.last_ckpt
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        partial = self.last_ckpt + PARTIAL_SUFFIX
        try:
            runner.save_checkpoint(
                self.out_dir,
                filename + (PARTIAL_SUFFIX if self._atomic() else ''),
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
            if is_main_process() and self._atomic():
                commit_checkpoint(partial, self.last_ckpt)
                write_text_atomically(
                    osp.join(runner.work_dir, 'last_checkpoint'),
                    self.last_ckpt)
                self._remove_other_mid_epoch_files()
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            if osp.isfile(partial):
                os.remove(partial)
            failed, self.last_ckpt = self.last_ckpt, previous
            runner.message_hub.update_info('last_ckpt', previous)
            raise CheckpointSaveError(self._disk_full(runner, failed,
                                                      previous)) from None
        self._saved_iter = meta['iter']

    def _checkpoint_bytes(self, runner) -> int:
        """What a checkpoint of this run takes: the model's and the
        optimizer's tensors (before the first step, the optimizer's are
        estimated as two per parameter, Adam's moments)."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        weights = tensor_bytes(model.state_dict())
        optimizer = tensor_bytes(runner.optim_wrapper.state_dict())
        if optimizer == 0:
            optimizer = 2 * tensor_bytes(
                [p for p in model.parameters() if p.requires_grad])
        return weights + optimizer

    def _disk_full(self, runner, failed: str,
                   previous: Optional[str]) -> str:
        free = shutil.disk_usage(self.out_dir).free
        kept = (f'the previous checkpoint, {previous}, is intact'
                if previous else 'no checkpoint had been written before')
        return (
            f'no space left in {self.out_dir} to write '
            f'{osp.basename(failed)}: it needs about '
            f'{self._checkpoint_bytes(runner):,} bytes and '
            f'{free:,} bytes are free; the unfinished file was removed and '
            f'{kept} (last_checkpoint names the newest). Free space, then '
            f'resume with python tools/train.py {runner.cfg.filename} '
            f'--work-dir {runner.work_dir} --resume')

    def _warn_if_short_of_space(self, runner) -> None:
        needed = 2 * self._checkpoint_bytes(runner)
        free = shutil.disk_usage(self.out_dir).free
        if free < needed:
            runner.logger.warning(
                f'{self.out_dir} has {free:,} bytes free, less than two '
                f'checkpoints of this run (about {needed:,} bytes): a save '
                'may fail for lack of space (the run would then stop, '
                'keeping the previous checkpoint)')
