"""Train a detector: MMDetection's tools/train.py with the same flags, run
after ``import senet_mmdet`` (so configs may inherit ``senet_mmdet::`` bases)
and after checking the config's data. ``--resume`` works on torch >= 2.6,
and ``--launcher pytorch`` (tools/dist_train.sh) also on CPU-only machines.
``--tensorboard`` (ours) also writes TensorBoard event files to
``WORK_DIR/<timestamp>/vis_data/``: ``tensorboard --logdir WORK_DIR``.

    python tools/train.py configs/faster_rcnn_se_r50.py [--work-dir DIR]
        [--amp] [--auto-scale-lr] [--resume [CKPT]] [--cfg-options K=V ...]
        [--launcher {none,pytorch,slurm,mpi}] [--tensorboard]
"""
import senet_mmdet  # noqa: F401  (registers modules and the config scope)
from senet_mmdet.apis import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('train', loaders=('train_dataloader', 'val_dataloader'))
