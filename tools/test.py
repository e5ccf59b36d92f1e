"""Test a detector: MMDetection's tools/test.py, same flags and steps
(parse, config, Runner, test), with the components of
``runner_type='SafeRunner'`` on any config: the COCO metrics also go to
``WORK_DIR/test_metrics.json`` (``tools/analysis/paper_table.py`` collects
them) and the checkpoint loads weights-only. Before the Runner exists, the
checkpoint and the test data must exist, and a checkpoint that does not fit
the config's model, or holds NaN or infinite weights, is refused unless
``--allow-mismatch`` / ``--allow-nonfinite``.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--show] [--show-dir DIR] [--tta] [--cfg-options K=V ...]
        [--launcher {none,pytorch,slurm,mpi}] [--tensorboard]
        [--check-images] [--unsafe-load] [--allow-mismatch]
        [--allow-nonfinite]
"""
import argparse
import os.path as osp
import sys
import warnings

from mmengine.config import ConfigDict

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmdet.utils import setup_cache_size_limit_of_dynamo
from senet_mmdet import cli
from senet_mmdet.datasets import check_dataset_files

# MMDetection's tools/test.py's test-time augmentation where the config has
# none: both flips, boxes merged by NMS.
DEFAULT_TTA_MODEL = dict(
    type='DetTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
FLIP_TTA = dict(
    type='TestTimeAug',
    transforms=[[dict(type='RandomFlip', prob=1.),
                 dict(type='RandomFlip', prob=0.)],
                [dict(type='PackDetInputs',
                      meta_keys=('img_id', 'img_path', 'ori_shape',
                                 'img_shape', 'scale_factor', 'flip',
                                 'flip_direction'))]])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='MMDet test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true')
    cli.add_common_arguments(parser, test=True)
    return cli.parsed(parser)


def test_time_augmentation(cfg) -> None:
    """``--tta`` as MMDetection's tools/test.py sets it up: the config's
    ``tta_model`` and ``tta_pipeline``, or flips of the test pipeline."""
    if 'tta_model' not in cfg:
        warnings.warn('Cannot find ``tta_model`` in config, '
                      'we will set it as default.')
        cfg.tta_model = DEFAULT_TTA_MODEL
    if 'tta_pipeline' not in cfg:
        warnings.warn('Cannot find ``tta_pipeline`` in config, '
                      'we will set it as default.')
        dataset = cfg.test_dataloader.dataset
        while 'dataset' in dataset:
            dataset = dataset['dataset']
        cfg.tta_pipeline = [*dataset.pipeline[:-1], FLIP_TTA]
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def main() -> None:
    args = parse_args()
    # Fewer repeated compilations (MMDetection's tools do the same).
    setup_cache_size_limit_of_dynamo()
    try:
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(
                f'checkpoint {args.checkpoint} does not exist; pass a .pth '
                'written by tools/train.py (work_dirs/<config>/epoch_*.pth)')
        cfg = cli.load_tool_config(args)
        check_dataset_files(cfg, ('test_dataloader', ), args.check_images)
        cli.check_test_checkpoint(cfg, args.checkpoint, args.allow_mismatch,
                                  args.allow_nonfinite)
    except cli.REFUSALS as error:
        sys.exit(f'error: {error}')
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        test_time_augmentation(cfg)
    cli.start_distributed(args, cfg)

    def test(runner) -> None:
        if args.out is not None:
            if not args.out.endswith(('.pkl', '.pickle')):
                sys.exit(f'error: --out {args.out}: the dump file must be a '
                         '.pkl or .pickle file')
            runner.test_evaluator.metrics.append(
                DumpDetResults(out_file_path=args.out))
        runner.test()

    cli.run(cfg, test)


if __name__ == '__main__':
    main()
