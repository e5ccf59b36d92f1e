"""mmengine's CheckpointHook, safe against a kill, a signal or a full disk
at any moment."""
import errno
import glob
import os
import os.path as osp
import shutil
from typing import List, Optional, Sequence

import torch
from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from mmdet.registry import HOOKS
from ..checkpoint import (PARTIAL_SUFFIX, commit_checkpoint,
                          from_weights_only, to_weights_only,
                          write_text_atomically)
from ..evaluation_ledger import EvaluationLedger
from ..loops import ResumableEpochBasedTrainLoop
from ..resume_state import (MID_EPOCH_TEMPLATE, mid_epoch_meta,
                            resume_state, resume_within_epoch)
from ..signals import DEFAULT_SIGNALS
from ..stop_guard import RESUME_HINT, StopGuard


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
    so that no event loses more than it must.

    The hook writes; the other jobs are parts it calls:

    - each checkpoint is written to ``<name>.partial``, loaded back, forced
      to disk and only then renamed to its name (a kill mid-save leaves the
      previous checkpoints as they were; mmengine writes in place);
      checkpoints beyond ``max_keep_ckpts`` are deleted after the new one is
      complete (mmengine deletes first), and ``last_checkpoint`` is replaced
      atomically after that, so it always names a complete file;
    - the file loads with ``torch.load(weights_only=True)``
      (:func:`to_weights_only`), and resuming turns its message hub back
      into mmengine's objects (:func:`from_weights_only`);
    - a signal in ``save_on_signals`` stops the run at the end of the
      iteration (or evaluation batch) it arrives in, on every rank at the
      same one; the run saves (unless its newest checkpoint is of that
      iteration) and stops (:class:`~senet_mmdet.engine.stop_guard.
      StopGuard`), which :class:`~senet_mmdet.engine.SafeRunner` turns into
      exit status 75 under any tool; a restart in place of the stopped job
      by an elastic launcher stops again;
    - in an epoch-based run that checkpoint is written mid-epoch
      (``epoch_E_iter_N.pth``) with the batches done and every rank's
      random generators (:mod:`~senet_mmdet.engine.resume_state`), from
      which :class:`ResumableEpochBasedTrainLoop` continues exactly;
      ``mid_epoch_interval=N`` also writes one every N iterations, keeping
      only the newest, so a kill -9 loses at most N iterations;
    - an evaluation that did not finish (killed or signalled) runs again
      when the run resumes from the checkpoint before it
      (:class:`~senet_mmdet.engine.evaluation_ledger.EvaluationLedger`);
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
        self.stop_guard = StopGuard(save_on_signals)
        if not isinstance(mid_epoch_interval, int) or mid_epoch_interval < 0:
            raise ValueError(
                f'mid_epoch_interval={mid_epoch_interval!r}: give the '
                'iterations between mid-epoch checkpoints as an int >= 1, '
                'or 0 for none')
        self.mid_epoch_interval = mid_epoch_interval
        self._resume: Optional[dict] = None
        self._saved_iter = -1
        # Set in before_train: a test or validation run alone has no
        # training loop, whose evaluations are not the run's to record.
        self._ledger: Optional[EvaluationLedger] = None

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self.stop_guard.refuse_a_restart(runner.work_dir)
        if self._atomic() and is_main_process():
            # Fragments of saves that a kill interrupted.
            for fragment in glob.glob(
                    osp.join(glob.escape(self.out_dir), '*' + PARTIAL_SUFFIX)):
                os.remove(fragment)
            self._warn_if_short_of_space(runner)
        if self._within_epoch(runner) or self._iteration_based(runner):
            self.stop_guard.install()
        elif self.stop_guard.requests.numbers or self.mid_epoch_interval:
            runner.logger.warning(
                'save_on_signals and mid_epoch_interval need '
                "train_cfg.type='ResumableEpochBasedTrainLoop' in an "
                "epoch-based run (runner_type='SafeRunner' sets it): "
                'signals are left to their default action and no '
                'mid-epoch checkpoint is written')
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            self._ledger = EvaluationLedger(runner.work_dir)
        self._saved_iter = runner.iter
        resume, self._resume = self._resume, None
        if runner.iter == 0:
            # Nothing was resumed (load_from only loads the weights).
            return
        if resume is not None:
            resume_within_epoch(runner, resume)
        elif self._evaluation_was_cut_short(runner):
            runner.logger.info(
                f'the evaluation after epoch {runner.epoch} did not finish '
                'before the run stopped: running it again')
            runner.val_loop.run()

    def after_train(self, runner) -> None:
        self.stop_guard.uninstall()
        super().after_train(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        to_weights_only(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        from_weights_only(checkpoint)
        # Applied in before_train, once the loop knows it resumed.
        self._resume = resume_state(checkpoint)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        done = runner.iter + 1
        signal_name = self.stop_guard.agreed()
        if self._within_epoch(runner):
            periodic = (self.mid_epoch_interval
                        and done % self.mid_epoch_interval == 0
                        and not self._epoch_checkpoint_due(runner, batch_idx))
            if periodic or signal_name:
                self._write(
                    runner, MID_EPOCH_TEMPLATE.format(runner.epoch + 1, done),
                    mid_epoch_meta(runner.epoch, done, batch_idx + 1))
        elif (signal_name and self._iteration_based(runner)
              and self._saved_iter != done):
            # An ordinary iter_N.pth, which mmengine resumes at that
            # iteration.
            self._save_checkpoint_with_step(
                runner, done, meta=dict(epoch=runner.epoch, iter=done))
        if signal_name:
            self.stop_guard.stop(
                runner.work_dir, signal_name,
                f'iteration {done} (epoch {runner.epoch + 1}, '
                f'batch {batch_idx + 1})', self.last_ckpt)

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch=None,
                       outputs=None) -> None:
        signal_name = self.stop_guard.agreed()
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
        if self._ledger is not None:
            where = (f'evaluation batch {batch_idx + 1} after epoch '
                     f'{runner.epoch}; the evaluation runs again on resume')
        else:
            where = (f'evaluation batch {batch_idx + 1} after iteration '
                     f'{runner.iter}')
        self.stop_guard.stop(runner.work_dir, signal_name, where,
                             self.last_ckpt)

    def after_val_epoch(self, runner, metrics) -> None:
        super().after_val_epoch(runner, metrics)
        if self._ledger is not None:
            self._ledger.record(runner.epoch)

    def _atomic(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    @staticmethod
    def _within_epoch(runner) -> bool:
        return isinstance(runner.train_loop, ResumableEpochBasedTrainLoop)

    @staticmethod
    def _iteration_based(runner) -> bool:
        return isinstance(runner.train_loop, IterBasedTrainLoop)

    def _epoch_checkpoint_due(self, runner, batch_idx: Optional[int]) -> bool:
        """Whether the epoch ends (after ``batch_idx``, if given) with an
        epoch checkpoint, as :meth:`after_train_epoch` decides."""
        if batch_idx is not None and (batch_idx + 1 !=
                                      len(runner.train_dataloader)):
            return False
        return self.by_epoch and (
            self.every_n_epochs(runner, self.interval, self.save_begin) or
            (self.save_last and self.is_last_train_epoch(runner)))

    def _evaluation_was_cut_short(self, runner) -> bool:
        """Whether the evaluation scheduled after the resumed epoch has no
        record of finishing."""
        if runner.val_loop is None or self._ledger is None:
            return False
        return self._ledger.cut_short(runner.train_loop, runner.epoch)

    def _remove_other_mid_epoch_files(self) -> None:
        """Once a newer checkpoint is complete, the mid-epoch ones before
        it are not needed to resume: only the newest is kept."""
        for path in glob.glob(
                osp.join(glob.escape(self.out_dir),
                         MID_EPOCH_TEMPLATE.format('*', '*'))):
            if path != self.last_ckpt:
                os.remove(path)

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
            f'{RESUME_HINT}')

    def _warn_if_short_of_space(self, runner) -> None:
        needed = 2 * self._checkpoint_bytes(runner)
        free = shutil.disk_usage(self.out_dir).free
        if free < needed:
            runner.logger.warning(
                f'{self.out_dir} has {free:,} bytes free, less than two '
                f'checkpoints of this run (about {needed:,} bytes): a save '
                'may fail for lack of space (the run would then stop, '
                'keeping the previous checkpoint)')
