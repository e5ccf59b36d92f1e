"""Checkpoint files for the loading tests."""
import os
from fractions import Fraction

import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner


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


def save_checkpoint_with_other_objects(path) -> None:
    """A checkpoint holding an object of a harmless class that no
    allow-list names: it loads only by full unpickling."""
    torch.save(
        dict(state_dict=dict(weight=torch.ones(2)),
             meta=dict(ratio=Fraction(1, 3))), path)


class TinyModel(BaseModel):
    """One linear layer trained to output 0: the smallest model mmengine's
    Runner trains."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        output = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=output.pow(2).mean())
        return output


class TinyDataset(torch.utils.data.Dataset):

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.full((2, ), float(index)))


def train_with_stock_mmengine(work_dir) -> str:
    """Train :class:`TinyModel` for 2 epochs with mmengine's own Runner and
    CheckpointHook (no senet_mmdet component) and return its last
    checkpoint: a file as any mmengine run writes it, message hub history
    and scheduler milestones included."""
    # The Runner makes its scope the current one; restored afterwards, so
    # that later tests building our models through MMDetection's registry
    # do not look them up in mmengine's.
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = Runner(
            model=TinyModel(),
            work_dir=str(work_dir),
            train_dataloader=dict(
                dataset=TinyDataset(),
                sampler=dict(type='DefaultSampler', shuffle=True),
                batch_size=2),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
            param_scheduler=dict(type='MultiStepLR', milestones=[1]),
            train_cfg=dict(by_epoch=True, max_epochs=2),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook')),
            default_scope='mmengine')
        runner.train()
    return os.path.join(str(work_dir), 'epoch_2.pth')
