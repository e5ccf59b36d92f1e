"""mmengine's CheckpointHook, safe against a kill at any moment."""
import glob
import os
import os.path as osp
from typing import List

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook

from mmdet.registry import HOOKS
from ..checkpoint import (PARTIAL_SUFFIX, commit_checkpoint,
                          from_weights_only, to_weights_only,
                          write_text_atomically)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """Save checkpoints as :class:`CheckpointHook` does (same arguments),
    with three changes that keep a killed run resumable:

    - each checkpoint is written to ``<name>.partial``, loaded back, forced
      to disk and only then renamed to its name (a kill mid-save leaves the
      previous checkpoints as they were; mmengine writes in place);
    - checkpoints beyond ``max_keep_ckpts`` are deleted after the new one is
      complete (mmengine deletes first), and ``last_checkpoint`` is replaced
      atomically after that, so it always names a complete file;
    - the file loads with ``torch.load(weights_only=True)``
      (:func:`to_weights_only`), and resuming turns its message hub back
      into mmengine's objects (:func:`from_weights_only`).

    Storage other than the local file system (``backend_args``) keeps
    mmengine's own saving.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._atomic() and is_main_process():
            # Fragments of saves that a kill interrupted.
            for fragment in glob.glob(
                    osp.join(glob.escape(self.out_dir), '*' + PARTIAL_SUFFIX)):
                os.remove(fragment)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        to_weights_only(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        from_weights_only(checkpoint)

    def _atomic(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

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
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename + PARTIAL_SUFFIX,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        # Runner.save_checkpoint writes on the main process only.
        if not is_main_process():
            return
        commit_checkpoint(self.last_ckpt + PARTIAL_SUFFIX, self.last_ckpt)
        write_text_atomically(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for path in outdated:
            if osp.isfile(path):
                os.remove(path)
