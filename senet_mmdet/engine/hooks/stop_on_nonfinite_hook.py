"""Stop training at the first non-finite loss or weight."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS


class NonFiniteTrainingError(RuntimeError):
    """Training produced NaN or infinity; the message says where."""


@HOOKS.register_module()
class StopOnNonFiniteHook(Hook):
    """Raise :class:`NonFiniteTrainingError` after the first iteration whose
    loss terms, or whose updated parameters, are not finite.

    Without it a diverged run trains on to the end with NaN weights, saves
    them over the good checkpoints and reports rc 0. The check runs before
    the checkpoint hook (priority ``ABOVE_NORMAL`` < ``VERY_LOW``), so the
    last checkpoint on disk stays the last finite one. Parameters are
    checked too because a non-finite gradient (an overflow in backward)
    can leave the loss finite while the optimizer step writes NaN.

    Args:
        check_parameters (bool): Also check every parameter after each
            step (one reduction per tensor; off saves that time).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, check_parameters: bool = True) -> None:
        self.check_parameters = check_parameters

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        where = (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, '
                 f'batch {batch_idx + 1})')
        terms = [
            f'{name}={float(value):g}'
            for name, value in (outputs or {}).items()
            if not bool(torch.isfinite(torch.as_tensor(value)).all())
        ]
        if terms:
            self._stop(runner,
                       f'{where}: non-finite loss ({", ".join(terms)})')
        if not self.check_parameters:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        named = [(name, param) for name, param in model.named_parameters()
                 if param.is_floating_point()]
        finite = torch.stack(
            [torch.isfinite(param.detach()).all() for _, param in named])
        if not bool(finite.all()):
            bad = [name for (name, _), ok in zip(named, finite) if not ok]
            self._stop(
                runner, f'{where}: the loss was finite but the optimizer '
                f'step made {len(bad)} parameter tensors non-finite (a '
                f'non-finite gradient), e.g. {", ".join(bad[:3])}')

    @staticmethod
    def _stop(runner, what: str) -> None:
        last = runner.message_hub.get_info('last_ckpt')
        kept = (f'the last checkpoint, {last}, is from before it and was '
                'kept' if last else 'no checkpoint had been written yet')
        raise NonFiniteTrainingError(
            f'training stopped at {what}; {kept}. Lower the learning rate, '
            'add or tighten optim_wrapper.clip_grad, or look for broken '
            'annotations, then resume from the last checkpoint or restart')
