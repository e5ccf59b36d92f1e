"""Test a detector: MMDetection's tools/test.py with the same flags, run
after ``import senet_mmdet`` and after checking that the checkpoint and the
test data exist; the COCO metrics go to ``WORK_DIR/test_metrics.json``
(``tools/analysis/paper_table.py`` collects them). A checkpoint that does
not fit the config's model, or holds NaN or infinite weights, is refused
before anything is evaluated, unless ``--allow-mismatch`` /
``--allow-nonfinite``.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--show] [--show-dir DIR] [--tta] [--cfg-options K=V ...]
        [--launcher {none,pytorch,slurm,mpi}] [--tensorboard]
        [--check-images] [--unsafe-load] [--allow-mismatch]
        [--allow-nonfinite]
"""
import senet_mmdet  # noqa: F401  (registers modules and the config scope)
from senet_mmdet.apis import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('test', loaders=('test_dataloader', ))
