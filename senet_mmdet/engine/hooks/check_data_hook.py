"""Check a run's data before training."""
from mmengine.hooks import Hook

from mmdet.registry import HOOKS
from senet_mmdet.datasets import check_dataset_files

# The dataloaders a training run reads.
TRAINING_LOADERS = ('train_dataloader', 'val_dataloader')


@HOOKS.register_module()
class CheckDataHook(Hook):
    """Raise :class:`~senet_mmdet.datasets.DatasetError` naming the file and
    the fix when the training or validation data is missing or its COCO
    annotations are broken, or when the loaders disagree on the classes or
    a head's ``num_classes`` does not count them
    (:func:`~senet_mmdet.datasets.check_dataset_files`); MMDetection would
    drop what it cannot use without a word, or fail on the first label past
    a head's end.

    :class:`~senet_mmdet.engine.SafeRunner` runs :meth:`check` as its
    ``train()`` starts, before mmengine builds the training dataloader
    (which reads the annotations) and initialises the weights (which may
    download them); with another Runner, the check runs in
    ``before_train``.

    Args:
        check_images (bool): Also decode every image (minutes on COCO).
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_images: bool = False) -> None:
        self.check_images = check_images
        # Once checked, not read again (a tool may check before it builds
        # the Runner, so that a refusal leaves no work dir behind).
        self.done = False

    def check(self, runner) -> None:
        if not self.done:
            check_dataset_files(runner.cfg, TRAINING_LOADERS,
                                self.check_images)
        self.done = True

    def before_train(self, runner) -> None:
        self.check(runner)
