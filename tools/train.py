"""Train a detector: MMDetection's tools/train.py, same flags and steps
(parse, config, Runner, train), with the safe-training components of
``runner_type='SafeRunner'`` on any config: checkpoints are written
atomically and load weights-only, a non-finite loss stops the run, each
epoch is reseeded so ``--resume`` repeats an uninterrupted run, SIGTERM,
SIGUSR1 and SIGUSR2 save the iteration in progress and stop with status 75
(``--resume`` goes on from the next one), and ``--launcher pytorch``
(tools/dist_train.sh) also runs on CPU-only machines (docs/training.md).
The data are checked before the Runner exists, so a refused run writes
nothing. Our flags: ``--tensorboard`` also writes TensorBoard event files
to ``WORK_DIR/<timestamp>/vis_data/``; ``--check-images`` decodes every
image first; ``--unsafe-load`` unpickles trusted checkpoints that
weights-only loading refuses.

    python tools/train.py configs/faster_rcnn_se_r50.py [--work-dir DIR]
        [--amp] [--auto-scale-lr] [--resume [CKPT]] [--cfg-options K=V ...]
        [--launcher {none,pytorch,slurm,mpi}] [--tensorboard]
        [--check-images] [--unsafe-load]
"""
import argparse
import sys

from mmdet.utils import setup_cache_size_limit_of_dynamo
from senet_mmdet import cli
from senet_mmdet.datasets import check_dataset_files
from senet_mmdet.engine import TRAINING_LOADERS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='enable automatically scaling LR.')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    cli.add_common_arguments(parser, test=False)
    return cli.parsed(parser)


def main() -> None:
    args = parse_args()
    # Fewer repeated compilations (MMDetection's tools do the same).
    setup_cache_size_limit_of_dynamo()
    try:
        cfg = cli.load_tool_config(args)
        check_dataset_files(cfg, TRAINING_LOADERS, cli.checks_images(cfg))
    except cli.REFUSALS as error:
        sys.exit(f'error: {error}')
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if not {'enable', 'base_batch_size'} <= set(
                cfg.get('auto_scale_lr') or {}):
            sys.exit('error: --auto-scale-lr needs auto_scale_lr = dict('
                     'enable=False, base_batch_size=16) in the config '
                     '(MMDetection\'s default_runtime has it)')
        cfg.auto_scale_lr.enable = True
    # --resume: the given checkpoint, or the work dir's last one.
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    cli.start_distributed(args, cfg)

    def train(runner) -> None:
        cli.mark_data_checked(runner)
        runner.train()

    cli.run(cfg, train)


if __name__ == '__main__':
    main()
