"""Signals that ask a training run to save and stop at the next step.

Clusters end jobs with a signal: Slurm sends SIGTERM at the time limit and
at preemption (KillWait, 30 s by default, before SIGKILL), and with
``sbatch --signal=SIG@SECONDS`` a chosen signal that many seconds before;
torchrun forwards SIGTERM (and SIGINT, SIGHUP, SIGQUIT) to its workers.
SIGUSR1 is often caught by NCCL, and submitit uses SIGUSR2.
"""
import signal
from types import FrameType
from typing import Dict, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size

DEFAULT_SIGNALS = ('SIGTERM', 'SIGUSR1', 'SIGUSR2')


def signal_numbers(names: Sequence[str]) -> Dict[str, int]:
    """``{'SIGTERM': 15, ...}`` for ``names``; an unknown or uncatchable
    name is a ValueError that lists the choices."""
    catchable = {
        name: int(number)
        for name, number in signal.Signals.__members__.items()
        if number not in (signal.SIGKILL, signal.SIGSTOP)
    }
    unknown = [name for name in names if name not in catchable]
    if unknown:
        raise ValueError(
            f'save_on_signals={tuple(names)!r}: {", ".join(unknown)} is not '
            'a signal that can be caught here; use names such as '
            f'{", ".join(DEFAULT_SIGNALS)} (or () for none)')
    return {name: catchable[name] for name in names}


class StopRequests:
    """Turns the given signals into a request to stop.

    The handler only records the first signal (a second one, for example
    during the save that the first one started, changes nothing), so the
    process stops where the training loop checks, never inside a step or a
    collective. Each rank receives its own signal, possibly in different
    iterations; :meth:`agreed` is the decision all ranks share, from an
    all-reduce of one number per check.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.numbers = signal_numbers(names)
        self.received: Optional[int] = None
        self._previous: Dict[int, object] = {}

    def install(self) -> None:
        for number in self.numbers.values():
            self._previous[number] = signal.signal(number, self._record)

    def uninstall(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def ignore(self) -> None:
        """Ignore the signals from now on: the run is stopping, and a
        launcher that sees one rank exit first signals the others (srun's
        --kill-on-bad-exit), which must still exit with their own status,
        also while the interpreter shuts down."""
        for number in self.numbers.values():
            signal.signal(number, signal.SIG_IGN)

    def _record(self, number: int, frame: Optional[FrameType]) -> None:
        if self.received is None:
            self.received = number

    def agreed(self) -> Optional[str]:
        """The name of a signal that some rank received (the highest
        number, so every rank names the same one), or None."""
        received = self.received or 0
        if get_world_size() > 1:
            flag = torch.tensor([received], dtype=torch.int64)
            all_reduce(flag, op='max')
            received = int(flag.item())
        return signal.Signals(received).name if received else None
