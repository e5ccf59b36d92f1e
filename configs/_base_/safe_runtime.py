# Safe training, under MMDetection's own tools/train.py and tools/test.py
# as under ours: atomic checkpoints, a signal (SIGTERM, SIGUSR1, SIGUSR2)
# saves mid-epoch and exits with status 75, exact resume (also with
# dataloader workers), an interrupted evaluation runs again, the first
# non-finite loss stops the run, and the data are checked before training
# (docs/training.md). SafeRunner writes these components into the config as
# mmengine's own keys (default_hooks.checkpoint, custom_hooks, train_cfg,
# train_dataloader), where the work dir's copy of the config shows them.
#
# Only these two keys: mmengine refuses two bases that define the same key,
# and MMDetection's bases define default_hooks, train_cfg and the
# dataloaders; these two they leave alone. On any MMDetection config, the
# same two lines switch everything on.
custom_imports = dict(imports=['senet_mmdet'], allow_failed_imports=False)
runner_type = 'SafeRunner'
