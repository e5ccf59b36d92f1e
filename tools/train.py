"""Train a detector: MMDetection's tools/train.py with the same flags, run
after ``import senet_mmdet`` (so configs may inherit ``senet_mmdet::`` bases)
and after checking the config's data. Checkpoints are written atomically and
load weights-only, a non-finite loss stops the run, each epoch is reseeded
so ``--resume`` repeats an uninterrupted run, SIGTERM, SIGUSR1 and SIGUSR2
save the iteration in progress and stop with status 75 (``--resume`` goes
on from the next one), and ``--launcher pytorch`` (tools/dist_train.sh) also
runs on CPU-only machines (docs/training.md: "What a killed or diverged run
keeps", "Time limits and preemption"). Our flags: ``--tensorboard`` also
writes TensorBoard event files to ``WORK_DIR/<timestamp>/vis_data/``;
``--check-images`` decodes every image first; ``--unsafe-load`` unpickles
trusted checkpoints that weights-only loading refuses.

    python tools/train.py configs/faster_rcnn_se_r50.py [--work-dir DIR]
        [--amp] [--auto-scale-lr] [--resume [CKPT]] [--cfg-options K=V ...]
        [--launcher {none,pytorch,slurm,mpi}] [--tensorboard]
        [--check-images] [--unsafe-load]
"""
import senet_mmdet  # noqa: F401  (registers modules and the config scope)
from senet_mmdet.apis import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('train', loaders=('train_dataloader', 'val_dataloader'))
