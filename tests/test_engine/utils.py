"""Checkpoint files for the loading tests."""
import os

import torch
from mmengine.logging import HistoryBuffer


class CodeRunningPickle:
    """Unpickling this runs ``os.mkdir(marker)``: a stand-in for the code a
    tampered checkpoint could run (any function, any arguments)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker, )


def save_code_running_checkpoint(path, marker, state_dict=None) -> None:
    """A checkpoint whose loading in full creates the folder ``marker``."""
    torch.save(
        dict(
            state_dict=state_dict or dict(weight=torch.ones(2)),
            meta=dict(note=CodeRunningPickle(marker))), path)


def save_mmengine_style_checkpoint(path) -> None:
    """What mmengine's Runner saves on its own: weights plus the message
    hub's history, whose HistoryBuffer pickles need more than weights-only
    loading allows."""
    buffer = HistoryBuffer()
    buffer.update(1.0)
    torch.save(
        dict(state_dict=dict(weight=torch.ones(2)),
             message_hub=dict(log_scalars=dict(loss=buffer))), path)
