"""Reproduce the SE paper's detection table: check the data, train every run
of a protocol, test each final checkpoint and write the table beside the
paper's numbers (markdown, JSON and a PNG).

    python tools/reproduce_paper.py --protocol tpami-table7 --gpus 8 \\
        [--seeds 1] [--launcher torchrun|slurm] [--nodes 1] \\
        [--work-dir work_dirs/paper] [--data-root data/coco/] \\
        [--cfg-options K=V ...] [--dry-run]
        [--partition P] [--time 24:00:00] [--cpus-per-task 5] [--cpu-only]

Protocols (``PROTOCOLS``): ``tpami-table7`` (the journal version's Table 7:
Faster R-CNN FPN, R-50, SE-R-50, R-101, SE-R-101, Detectron's 2x),
``cvpr-basic`` (the conference version's basic Faster R-CNN, C4, COCO 2014)
and ``flagship-1x`` (MMDetection's R-50 FPN 1x against the SE-ResNet-50
flagship). Each (config, seed) run lives in
``WORK_DIR/<config name>/seed_<seed>/`` (as in tools/analysis/compare.py).
Running the same command again goes on where it stopped: finished runs are
kept, interrupted ones resume (``--resume``), trained ones are only tested.
With torchrun the runs go one after another on this node; a signal to this
command (SIGTERM, SIGUSR1, SIGUSR2) reaches the training, which saves and
stops, and this command then exits 75. With Slurm each unfinished run is one
``tools/slurm_batch.sh`` job (requeued on time limits and preemption), and
a last job, after all of them, tests and tabulates. ``--dry-run`` prints
the plan, the estimated GPU-hours, the data check's result and the
commands, and runs nothing.
"""
import argparse
import glob
import importlib.util
import json
import os
import os.path as osp
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

import senet_mmdet  # noqa: F401  (the configs' scope and registries)
from senet_mmdet.apis import load_config
from senet_mmdet.datasets import loader_data_paths
from senet_mmdet.apis.runs import (config_name, final_checkpoint_name,
                                   last_checkpoint, seed_option,
                                   seeded_run_dir)

TOOLS = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(TOOLS)
PAPER_TABLE = osp.join(TOOLS, 'analysis', 'paper_table.py')
SENET = osp.join('configs', 'senet')
# What tools/train.py exits with after a signal: saved, resume to go on.
RESUMABLE_EXIT_CODE = 75
# The run's record of what it is (config, seed, options); a work dir that
# holds another run is refused.
MANIFEST = 'reproduce.json'
# Written when a training stopped at a non-finite loss: the table says so,
# and the run is not trained again until this file is deleted.
STOPPED = 'stopped.json'
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')

# SE's cost per training step relative to the plain backbone: `make bench`
# (docs/benchmarks.md), the frozen-BatchNorm training step of SE-ResNet-50
# against ResNet-50 at 2x3x512x512, median of 7 rounds, measured on a
# 2-core CPU (not a GPU) at commit 7083fc5. The detectors' backbones train
# with frozen BatchNorm; the rest of the detector costs the same for both,
# so scaling the whole step by it overestimates SE's cost.
SE_STEP_RATIO = 1.064
SE_STEP_SOURCE = ('docs/benchmarks.md, `make bench`: SE-ResNet-50 / '
                  'ResNet-50 frozen-BN training step, 1.064 (median), '
                  'measured on a 2-core CPU, not a GPU')

DETECTRON_ZOO = ('Detectron MODEL_ZOO.md (12_2017_baselines, end-to-end '
                 'Faster R-CNN)')
DETECTRON_GPUS = 'NVIDIA Tesla P100'
DETECTRON2_ZOO = 'Detectron2 MODEL_ZOO.md (COCO Object Detection Baselines)'
DETECTRON2_GPUS = 'NVIDIA V100'


@dataclass(frozen=True)
class TrainTime:
    """A published training speed: seconds per iteration of a plain
    detector on ``gpus``, at the protocol's batch and schedule."""
    seconds_per_iter: float
    gpus: int
    gpu_type: str
    source: str


@dataclass(frozen=True)
class Run:
    """One row of a protocol: a config, plain or SE, and its depth."""
    config: str
    se: bool
    depth: int
    train_time: TrainTime


@dataclass(frozen=True)
class Protocol:
    title: str
    runs: Tuple[Run, ...]
    batch: int
    iterations: int
    schedule: str
    coco_year: str


def _senet(name: str) -> str:
    return osp.join(SENET, name + '.py')


def _pairs(pattern: str, times: Dict[int, TrainTime]) -> Tuple[Run, ...]:
    """The plain and SE run of each depth in ``times``: ``pattern`` with
    its ``{backbone}`` field filled (``r50``, ``se-r50``, ...)."""
    return tuple(
        Run(_senet(pattern.format(backbone=f'{prefix}r{depth}')), with_se,
            depth, time)
        for depth, time in times.items()
        for with_se, prefix in ((False, ''), (True, 'se-')))


DETECTRON_2X = dict(gpus=8, gpu_type=DETECTRON_GPUS,
                    source=f'{DETECTRON_ZOO}: R-50-FPN / R-101-FPN Faster 2x')
DETECTRON_C4 = dict(
    gpus=8, gpu_type=DETECTRON_GPUS,
    source=f'{DETECTRON_ZOO}: R-50-C4 Faster 2x, 1 image per GPU at 800 '
    'px (this protocol: 600 px, so an upper bound); R-101-C4 (not in '
    f'Detectron\'s zoo) scaled by {DETECTRON2_ZOO}\'s R101-C4 / R50-C4 '
    '3x, 0.619 / 0.543 s/iter')

PROTOCOLS: Dict[str, Protocol] = {
    'tpami-table7': Protocol(
        # arXiv 1709.01507 v4 is the journal version (SENET_FACTS.md); the
        # READMEs cite its issue.
        title='journal version (arXiv 1709.01507v4, IEEE TPAMI 42(8), '
        '2020), Table 7: Faster R-CNN FPN, Detectron 2x, trained on COCO '
        'train2017, tested on val2017',
        runs=_pairs('faster-rcnn_{backbone}-caffe_fpn_tpami-table7-2x_coco', {
            50: TrainTime(0.546, **DETECTRON_2X),
            101: TrainTime(0.647, **DETECTRON_2X),
        }),
        batch=16, iterations=180000,
        schedule='Detectron 2x: lr 0.02, steps at 120k and 160k',
        coco_year='2017'),
    'cvpr-basic': Protocol(
        title='conference version (CVPR 2018): basic Faster R-CNN (C4), '
        'trained on COCO 2014 train (80k), tested on the 2014 val set (40k)',
        runs=_pairs('faster-rcnn_{backbone}-caffe-c4_cvpr-basic_coco-2014', {
            50: TrainTime(0.569, **DETECTRON_C4),
            101: TrainTime(round(0.569 * 0.619 / 0.543, 3), **DETECTRON_C4),
        }),
        batch=8, iterations=320000,
        schedule='8 GPUs x 1 image, lr 0.001 for 240k, 0.0001 for 80k',
        coco_year='2014'),
    'flagship-1x': Protocol(
        title='MMDetection\'s Faster R-CNN R-50 FPN 1x (12 epochs) against '
        'the SE-ResNet-50 flagship, COCO train2017 / val2017 (not a '
        'protocol of the paper)',
        runs=_pairs('faster-rcnn_{backbone}_fpn_1x_coco', {
            50: TrainTime(0.210, 8, DETECTRON2_GPUS,
                          f'{DETECTRON2_ZOO}: R50-FPN Faster R-CNN 1x'),
        }),
        # 12 epochs of the 117,266 train2017 images that have boxes.
        batch=16, iterations=12 * 7330,
        schedule='MMDetection 1x: 12 epochs of 7330 iterations, lr 0.02, '
        'steps after epochs 8 and 11',
        coco_year='2017'),
}

# Where each file of a COCO layout comes from.
COCO_IMAGES = 'http://images.cocodataset.org/zips/{name}.zip'
COCO_ANNOTATIONS = ('http://images.cocodataset.org/annotations/'
                    'annotations_trainval{year}.zip')
DETECTRON_MINIVAL = ('Detectron\'s json_dataset annotations, '
                     'https://dl.fbaipublicfiles.com/detectron/coco/'
                     'coco_annotations_minival.tgz (detectron/datasets/data/'
                     'README.md; minival2014 = val2017)')
YEARS = ('2014', '2017')


def _download_command(year: str, data_root: str) -> str:
    """MMDetection's downloader, as the installed mmdet ships it."""
    import mmdet
    script = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'misc',
                      'download_dataset.py')
    return (f'python {script} --dataset-name coco{year} --save-dir '
            f'{data_root or "."} --unzip (MMDetection\'s '
            'tools/misc/download_dataset.py; it also fetches the test '
            'images)')


def coco_origin(path: str, data_root: str) -> str:
    """Where a file or folder of COCO's layout comes from, by its name."""
    name = osp.basename(osp.normpath(path))
    for year in YEARS:
        if name in (f'train{year}', f'val{year}'):
            return (f'COCO {year} images: {COCO_IMAGES.format(name=name)}, '
                    f'or {_download_command(year, data_root)}')
        if name in (f'instances_train{year}.json',
                    f'instances_val{year}.json'):
            return (f'COCO {year} annotations: '
                    f'{COCO_ANNOTATIONS.format(year=year)}, or '
                    f'{_download_command(year, data_root)}')
    if name in ('instances_minival2014.json',
                'instances_valminusminival2014.json'):
        return DETECTRON_MINIVAL
    return ('not a file of COCO\'s own layout: check the config and '
            '--cfg-options that name it')


def other_year(path: str, year: str) -> Optional[str]:
    """The same path with the other COCO year, where one is named."""
    for other in YEARS:
        if other != year and year in osp.basename(osp.normpath(path)):
            head, tail = osp.split(osp.normpath(path))
            return osp.join(head, tail.replace(year, other))
    return None


def data_paths(cfg: Config) -> List[Tuple[str, str, str]]:
    """``(what, path, data_root)`` for every annotation file and image
    folder that the config's dataloaders and evaluators read."""
    found = list(loader_data_paths(cfg, LOADERS))
    for evaluator in ('val_evaluator', 'test_evaluator'):
        metric = cfg.get(evaluator) or {}
        for entry in metric if isinstance(metric, list) else [metric]:
            if entry.get('ann_file'):
                root = osp.dirname(osp.dirname(entry['ann_file']))
                found.append((f'{evaluator}.ann_file', entry['ann_file'],
                              root + '/' if root else ''))
    return found


def missing_data(protocol: Protocol, cfgs: Dict[str, Config]) -> List[str]:
    """One line per file or folder that a config reads and that does not
    exist, with where it comes from (the wrong year's layout named)."""
    problems: Dict[str, str] = {}
    for config, cfg in cfgs.items():
        for what, path, root in data_paths(cfg):
            if osp.exists(path) or path in problems:
                continue
            line = (f'{path} ({what} of {config_name(config)}) does not '
                    f'exist; it is {coco_origin(path, root)}')
            swapped = other_year(path, protocol.coco_year)
            if swapped and osp.exists(swapped):
                (found_year, ) = set(YEARS) - {protocol.coco_year}
                line += (f'. {swapped} is there: that is the COCO '
                         f'{found_year} layout, and this protocol needs '
                         f'COCO {protocol.coco_year}\'s files')
            problems[path] = line
    return list(problems.values())


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='docs/reproduce.md explains each protocol.')
    parser.add_argument('--protocol', required=True,
                        help=f'one of {", ".join(PROTOCOLS)}')
    parser.add_argument('--seeds', type=int, default=1,
                        help='train each config with seeds 0 .. N-1 '
                        '(default 1)')
    parser.add_argument('--launcher', choices=('torchrun', 'slurm'),
                        default='torchrun')
    parser.add_argument('--gpus', type=int, default=8,
                        help='GPUs (processes) per node (default 8)')
    parser.add_argument('--nodes', type=int, default=1,
                        help='nodes per run (Slurm; default 1)')
    parser.add_argument('--work-dir', default='work_dirs/paper',
                        help='root of the runs\' work dirs and the table '
                        '(default work_dirs/paper)')
    parser.add_argument('--data-root',
                        help='the COCO folder (default: the configs\', '
                        'data/coco/ under the working directory)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE',
                        help='config options for every run, passed to each '
                        'training and test')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the plan, its GPU-hours, the data check '
                        'and the commands; run nothing')
    parser.add_argument('--test-only', action='store_true',
                        help='train nothing: test the finished trainings '
                        'and write the table (the last Slurm job runs this)')
    slurm = parser.add_argument_group('Slurm')
    slurm.add_argument('--partition', help='sbatch -p')
    slurm.add_argument('--time', help='sbatch --time of each training job '
                       '(tools/slurm_batch.sh requeues it when it runs out)')
    slurm.add_argument('--cpus-per-task', type=int, default=5)
    slurm.add_argument('--cpu-only', action='store_true',
                       help='ask Slurm for no GPU (a CPU partition or a test '
                       'cluster: the tasks train over gloo)')
    args = parser.parse_args(argv)
    if args.protocol not in PROTOCOLS:
        sys.exit(f'error: unknown protocol {args.protocol!r}; choose one '
                 'of: ' + '; '.join(f'{name} ({protocol.title})'
                                    for name, protocol in PROTOCOLS.items()))
    for flag in ('seeds', 'gpus', 'nodes', 'cpus_per_task'):
        if getattr(args, flag) < 1:
            sys.exit(f'error: --{flag.replace("_", "-")} '
                     f'{getattr(args, flag)}: give at least 1')
    if args.launcher == 'torchrun' and args.nodes > 1:
        sys.exit(f'error: --nodes {args.nodes} with --launcher torchrun: '
                 'this command runs on one node; for several nodes per run '
                 'use --launcher slurm')
    if args.launcher == 'slurm' and not args.dry_run and not args.test_only \
            and shutil.which('sbatch') is None:
        sys.exit('error: --launcher slurm needs sbatch, which is not on '
                 'PATH: run this on a Slurm login node, or use --launcher '
                 'torchrun on a GPU node')
    args.cfg_options = list(args.cfg_options)
    if args.data_root:
        args.data_root = osp.join(args.data_root, '')
    return args


def data_root_options(cfg: Config, data_root: str) -> List[str]:
    """``--cfg-options`` that point a config's datasets and evaluators at
    ``data_root`` (the evaluators' annotation files keep their names)."""
    options = [f'{loader}.dataset.data_root={data_root}'
               for loader in LOADERS if cfg.get(loader)]
    for evaluator in ('val_evaluator', 'test_evaluator'):
        ann_file = (cfg.get(evaluator) or {}).get('ann_file')
        if ann_file:
            name = osp.join(osp.basename(osp.dirname(ann_file)),
                            osp.basename(ann_file))
            options.append(f'{evaluator}.ann_file={data_root}{name}')
    return options


def parsed_options(options: Sequence[str]) -> dict:
    """``KEY=VALUE`` strings as mmengine's tools parse them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={})
    return parser.parse_args(['--cfg-options', *options]
                             if options else []).cfg_options


@dataclass
class Plan:
    """One (config, seed) run: where it lives and how it is run."""
    run: Run
    seed: int
    run_dir: str
    options: List[str]
    cfg: Config

    @property
    def name(self) -> str:
        return config_name(self.run.config)

    @property
    def final(self) -> str:
        return final_checkpoint_name(self.cfg)

    def label(self) -> str:
        return f'{self.name} seed {self.seed}'


def plan_runs(protocol: Protocol, args) -> List[Plan]:
    """Every (config, seed) of the protocol, seed by seed, with its
    resolved config and options (the data root, then the user's, then the
    seed). Each config is resolved once: the seed changes nothing the
    plan reads."""
    resolved = {}
    for run in protocol.runs:
        user_options = parsed_options(args.cfg_options)
        cfg = load_config(osp.join(REPO, run.config), user_options)
        options = []
        if args.data_root:
            options = data_root_options(cfg, args.data_root)
            # The tools apply the data root first, then the user's options.
            cfg.merge_from_dict(parsed_options(options))
            cfg.merge_from_dict(user_options)
        resolved[run] = ([*options, *args.cfg_options], cfg)
    plans = []
    for seed in range(args.seeds):
        for run in protocol.runs:
            options, cfg = resolved[run]
            plans.append(Plan(run, seed, osp.abspath(
                seeded_run_dir(args.work_dir, run.config, seed)),
                [*options, seed_option(seed)], cfg))
    return plans


def total_batch(plan: Plan, args) -> int:
    return plan.cfg.train_dataloader.batch_size * args.gpus * args.nodes


def batch_warning(protocol: Protocol, plans: List[Plan], args) -> List[str]:
    """A warning when the total batch differs from the protocol's."""
    per_gpu = plans[0].cfg.train_dataloader.batch_size
    total = total_batch(plans[0], args)
    if total == protocol.batch:
        return []
    fits = protocol.batch % (args.gpus * args.nodes) == 0
    keep = (f'--cfg-options train_dataloader.batch_size='
            f'{protocol.batch // (args.gpus * args.nodes)} keeps the '
            f'protocol\'s batch where memory allows'
            if fits else 'no whole number of images per GPU gives the '
            f'protocol\'s batch on {args.gpus * args.nodes} GPUs')
    return [
        f'warning: {args.nodes} node(s) x {args.gpus} GPUs x {per_gpu} '
        f'images = a total batch of {total}, not the protocol\'s '
        f'{protocol.batch}: this changes the protocol. Every training runs '
        f'with --auto-scale-lr, which scales the learning rate by '
        f'{total}/{plans[0].cfg.auto_scale_lr.base_batch_size}, but the '
        'iterations stay the same, so the runs see '
        f'{total / protocol.batch:.2g}x the images of the paper\'s; {keep}.'
    ]


def gpu_hours(run: Run, iterations: int, batch_ratio: float = 1.0) -> float:
    """Published seconds per iteration x iterations x GPUs, times SE's
    step ratio for an SE run. The published speed is for the protocol's
    batch; ``batch_ratio`` (a total batch / the protocol's) scales it as
    if the time per image stayed the same."""
    time_ = run.train_time
    hours = time_.seconds_per_iter * iterations * time_.gpus / 3600
    return hours * batch_ratio * (SE_STEP_RATIO if run.se else 1.0)


def print_plan(protocol: Protocol, plans: List[Plan], args) -> None:
    """The protocol, its batch and length, the cost, the anchors."""
    gpus = args.gpus * args.nodes
    first = plans[0]
    print(f'protocol {args.protocol}: {protocol.title}')
    print(f'  batch: {protocol.batch} images per iteration '
          f'({first.cfg.train_dataloader.batch_size} per GPU in the '
          f'configs); yours: {total_batch(first, args)} ({args.nodes} '
          f'node(s) x {args.gpus} GPUs)')
    print(f'  length: {protocol.iterations} iterations ({protocol.schedule});'
          f' each run ends with {first.final}')
    print(f'  runs: {len(protocol.runs)} configs x {args.seeds} seed(s) in '
          f'{osp.abspath(args.work_dir)}')
    total = 0.0
    batch = total_batch(first, args)
    print('  estimated GPU-hours (published seconds per iteration at the '
          f'protocol\'s batch of {protocol.batch} x {protocol.iterations} '
          'iterations; your wall time assumes your GPUs are as fast as the '
          'published ones and scale linearly):')
    if batch != protocol.batch:
        print(f'    your total batch is {batch}, not the protocol\'s '
              f'{protocol.batch}: the figures below are scaled by '
              f'{batch}/{protocol.batch}, assuming each image costs the '
              'published time (linear throughput per image); they '
              'estimate another protocol, not the paper\'s')
    for run in protocol.runs:
        hours = gpu_hours(run, protocol.iterations, batch / protocol.batch)
        total += hours * args.seeds
        time_ = run.train_time
        print(f'    {config_name(run.config)}: {hours:.0f} GPU-hours, '
              f'{hours / gpus:.1f} h on {gpus} GPUs ('
              f'{time_.seconds_per_iter} s/iter on {time_.gpus} x '
              f'{time_.gpu_type}'
              f'{f" x {SE_STEP_RATIO} for SE" if run.se else ""})')
    sequential = ' one after another' if args.launcher == 'torchrun' else ''
    print(f'    total: {total:.0f} GPU-hours, {total / gpus:.0f} h on '
          f'{gpus} GPUs{sequential}')
    sources = sorted({run.train_time.source for run in protocol.runs})
    print(f'    sources: {"; ".join(sources)}; SE: {SE_STEP_SOURCE}')
    table = paper_table()
    key = table.protocol_of(first.run.config)
    reported = table.PAPER.get(key, dict(results={}))['results']
    paper = ', '.join(
        f'{family}-{depth} {values["plain"][0]}, SE {values["se"][0]}'
        for (family, depth), values in sorted(reported.items()))
    print(f'  paper AP: {paper or "none (not a protocol of the paper)"}')
    anchor = table.ANCHORS[key]
    values = ', '.join(f'{family}-{depth} {ap}' for (family, depth), ap in
                       sorted(anchor['results'].items()))
    print(f'  sanity anchor, the published AP of the plain detector with '
          f'this schedule: {values} ({anchor["source"]})')


def paper_table():
    """tools/analysis/paper_table.py as a module: the paper's numbers and
    the anchors live there, once."""
    spec = importlib.util.spec_from_file_location('paper_table', PAPER_TABLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tool(name: str, *args: str) -> List[str]:
    return [sys.executable, osp.join(TOOLS, name), *map(str, args)]


def train_command(plan: Plan, args, resume: bool) -> List[str]:
    """tools/dist_train.sh for one run, with --auto-scale-lr."""
    command = ['bash', osp.join(TOOLS, 'dist_train.sh'),
               osp.join(REPO, plan.run.config), str(args.gpus),
               '--work-dir', plan.run_dir, '--auto-scale-lr']
    if resume:
        command.append('--resume')
    return command + ['--cfg-options', *plan.options]


def test_command(plan: Plan, checkpoint: str, args) -> List[str]:
    """tools/dist_test.sh of a run's final checkpoint; the metrics go to
    ``RUN_DIR/test_metrics.json``."""
    return ['bash', osp.join(TOOLS, 'dist_test.sh'),
            osp.join(REPO, plan.run.config), checkpoint, str(args.gpus),
            '--work-dir', plan.run_dir, '--cfg-options', *plan.options]


def slurm_test_command(plan: Plan, checkpoint: str) -> List[str]:
    """tools/test.py on every task of the Slurm job that runs it."""
    return ['srun', '--kill-on-bad-exit=1', sys.executable, '-u',
            osp.join(TOOLS, 'test.py'), osp.join(REPO, plan.run.config),
            checkpoint, '--work-dir', plan.run_dir, '--launcher', 'slurm',
            '--cfg-options', *plan.options]


def sbatch_options(args, job_name: str, log: str, job: int) -> List[str]:
    """The job's resources, log and name; its own ``MASTER_PORT`` (the
    environment's or 29500, plus ``job``), so that jobs that share a node
    do not share the rendezvous port."""
    port = int(os.environ.get('MASTER_PORT', 29500)) + job
    options = [f'--job-name={job_name}', f'--nodes={args.nodes}',
               f'--ntasks-per-node={args.gpus}',
               f'--cpus-per-task={args.cpus_per_task}', f'--output={log}',
               f'--export=ALL,MASTER_PORT={port}', '--parsable']
    if not args.cpu_only:
        options.append(f'--gres=gpu:{args.gpus}')
    if args.partition:
        options.append(f'--partition={args.partition}')
    return options


def sbatch_train_command(plan: Plan, args, job: int) -> List[str]:
    """tools/slurm_batch.sh for one run: it resumes from the work dir and
    requeues itself after a time limit or preemption."""
    options = sbatch_options(args, f'{plan.name}-seed{plan.seed}',
                             osp.join(plan.run_dir, 'slurm-%j.log'), job)
    if args.time:
        options.append(f'--time={args.time}')
    return ['sbatch', *options, osp.join(TOOLS, 'slurm_batch.sh'),
            osp.join(REPO, plan.run.config), plan.run_dir, '--auto-scale-lr',
            '--cfg-options', *plan.options]


def own_command(args) -> List[str]:
    """This command as the last Slurm job runs it: test and tabulate."""
    command = tool('reproduce_paper.py', '--protocol', args.protocol,
                   '--seeds', args.seeds, '--launcher', 'slurm', '--gpus',
                   args.gpus, '--nodes', args.nodes, '--work-dir',
                   osp.abspath(args.work_dir), '--test-only')
    if args.data_root:
        command += ['--data-root', args.data_root]
    if args.cfg_options:
        command += ['--cfg-options', *args.cfg_options]
    return command


def sbatch_final_command(args, jobs: Sequence[str],
                         job: int) -> List[str]:
    options = sbatch_options(args, f'{args.protocol}-table', osp.join(
        osp.abspath(args.work_dir), 'slurm-table-%j.log'), job)
    if jobs:
        options.append('--dependency=afterany:' + ':'.join(jobs))
    # As tools/slurm_batch.sh does: this checkout first on the path.
    return ['sbatch', *options,
            f'--wrap=cd {shlex.quote(REPO)} && PYTHONPATH={shlex.quote(REPO)}'
            '${PYTHONPATH:+:$PYTHONPATH} ' + shlex.join(own_command(args))]


# A run's state, from its work dir.
NEW, INTERRUPTED, TRAINED, TESTED, STOPPED_NONFINITE = (
    'new', 'interrupted', 'trained', 'tested', 'stopped')


def run_state(plan: Plan) -> str:
    """What the run's work dir holds: nothing yet, an unfinished training,
    a finished one, its test, or a stop at a non-finite loss."""
    metrics = osp.join(plan.run_dir, 'test_metrics.json')
    if osp.isfile(metrics):
        with open(metrics) as handle:
            tested = osp.basename(json.load(handle).get('checkpoint', ''))
        if tested == plan.final:
            return TESTED
    if osp.isfile(osp.join(plan.run_dir, STOPPED)):
        return STOPPED_NONFINITE
    checkpoint = last_checkpoint(plan.run_dir)
    if checkpoint is None:
        return NEW
    return TRAINED if osp.basename(checkpoint) == plan.final else INTERRUPTED


def manifest(plan: Plan, protocol: str) -> dict:
    backbone = plan.cfg.model.backbone
    return dict(config=plan.run.config, seed=plan.seed,
                cfg_options=plan.options, protocol=protocol,
                backbone=backbone.type, depth=backbone.get('depth'),
                final_checkpoint=plan.final)


def claim_work_dir(plan: Plan, protocol: str) -> None:
    """Write the run's manifest, or refuse a work dir that holds a run of
    another config, seed or options (nothing there is touched)."""
    record = manifest(plan, protocol)
    path = osp.join(plan.run_dir, MANIFEST)
    fix = (f'choose another --work-dir, or move {plan.run_dir} away to '
           'start this run afresh')
    dumped = [osp.basename(file) for file in glob.glob(
        osp.join(plan.run_dir, '*.py'))]
    others = [name for name in dumped if name != plan.name + '.py']
    if others:
        sys.exit(f'error: {plan.run_dir} holds a run of {others[0]} (its '
                 f'dumped config), not of {plan.name}.py; {fix}')
    if osp.isfile(path):
        with open(path) as handle:
            held = json.load(handle)
        differs = [key for key in ('config', 'seed', 'cfg_options')
                   if held.get(key) != record[key]]
        if differs:
            sys.exit(f'error: {plan.run_dir} holds a run with other '
                     + ', '.join(f'{key} ({held.get(key)!r}, here '
                                 f'{record[key]!r})' for key in differs)
                     + f'; {fix}')
        # Kept as it is: it may name the run's Slurm job.
        return
    os.makedirs(plan.run_dir, exist_ok=True)
    with open(path, 'w') as handle:
        json.dump(record, handle, indent=1)


def tools_env() -> dict:
    """The environment of the shell tools: they run ``$PYTHON``, this
    interpreter unless it is set."""
    env = dict(os.environ)
    env.setdefault('PYTHON', sys.executable)
    return env


def run_logged(command: Sequence[str], log: str) -> Tuple[int, bool]:
    """Run ``command`` with its output appended to ``log``; a SIGTERM,
    SIGUSR1 or SIGUSR2 to this process is passed on to it (tools/train.py
    then saves and exits 75; torchrun's agent exits non-zero after its
    workers did). Returns its exit status and whether a signal came."""
    with open(log, 'a') as handle:
        handle.write(f'$ {shlex.join(command)}\n')
        handle.flush()
        process = subprocess.Popen(command, cwd=REPO, env=tools_env(),
                                   stdout=handle, stderr=subprocess.STDOUT)
    received = []

    def forward(signum, _frame) -> None:
        received.append(signum)
        process.send_signal(signum)

    previous = {signum: signal.signal(signum, forward)
                for signum in FORWARDED_SIGNALS}
    try:
        return process.wait(), bool(received)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def nonfinite_stop(log: str) -> Optional[str]:
    """The ``error:`` line of a training that stopped at a non-finite loss
    (StopOnNonFiniteHook's message), from the run's log."""
    with open(log) as handle:
        lines = [line.strip() for line in handle
                 if 'error: training stopped at' in line
                 and 'non-finite' in line]
    return lines[-1].split('error: ', 1)[1] if lines else None


def record_stop(plan: Plan, log: str, why: str) -> None:
    with open(osp.join(plan.run_dir, STOPPED), 'w') as handle:
        json.dump(dict(reason=why, log=log), handle, indent=1)


def stop_after_signal(plan: Plan, what: str) -> None:
    print(f'{plan.label()}: stopped by a signal {what}', file=sys.stderr)
    sys.exit(RESUMABLE_EXIT_CODE)


def train_and_test(plan: Plan, args) -> str:
    """Bring one run to its test metrics on this node; returns what was
    done. Exits 75 after a signal, 1 naming the log after a failure."""
    state = run_state(plan)
    if state == TESTED:
        return 'finished earlier, kept'
    log = osp.join(plan.run_dir, 'reproduce.log')
    if state == STOPPED_NONFINITE:
        return (f'stopped earlier at a non-finite loss ({plan.run_dir}/'
                f'{STOPPED}; delete it to train again from the last '
                'checkpoint)')
    done = []
    if state in (NEW, INTERRUPTED):
        resume = state == INTERRUPTED
        if resume:
            newest = osp.basename(last_checkpoint(plan.run_dir))
            done.append(f'resumed from {newest}')
        status, signalled = run_logged(train_command(plan, args, resume),
                                       log)
        if status == RESUMABLE_EXIT_CODE or (signalled and status != 0):
            stop_after_signal(plan, 'after saving; run the same command '
                              'again to resume')
        if status != 0:
            why = nonfinite_stop(log)
            if why is None:
                sys.exit(f'error: the training of {plan.label()} failed '
                         f'(exit {status}); see {log}')
            record_stop(plan, log, why)
            return f'stopped at a non-finite loss: {why}'
        done.append('trained')
    checkpoint = last_checkpoint(plan.run_dir)
    status, signalled = run_logged(test_command(plan, checkpoint, args), log)
    if signalled and status != 0:
        stop_after_signal(plan, 'while testing; run the same command again '
                          'to test it')
    if status != 0:
        sys.exit(f'error: the test of {checkpoint} failed (exit {status}); '
                 f'see {log}')
    return ', '.join(done + [f'tested {osp.basename(checkpoint)}'])


def test_trained(plan: Plan, args) -> str:
    """The last Slurm job's part for one run: test a finished training."""
    state = run_state(plan)
    if state != TRAINED:
        return {TESTED: 'tested earlier', NEW: 'not trained',
                INTERRUPTED: 'training not finished: run the command again',
                STOPPED_NONFINITE: 'stopped at a non-finite loss'}[state]
    checkpoint = last_checkpoint(plan.run_dir)
    command = (slurm_test_command(plan, checkpoint)
               if args.launcher == 'slurm' else
               test_command(plan, checkpoint, args))
    log = osp.join(plan.run_dir, 'reproduce.log')
    status, _ = run_logged(command, log)
    if status != 0:
        return f'test failed (exit {status}); see {log}'
    return f'tested {osp.basename(checkpoint)}'


def active_slurm_job(plan: Plan) -> Optional[str]:
    """The run's training job from an earlier submission, if Slurm still
    holds it (pending, running or requeued): never two jobs on one dir."""
    path = osp.join(plan.run_dir, MANIFEST)
    with open(path) as handle:
        job = json.load(handle).get('slurm_job')
    if not job:
        return None
    state = subprocess.run(['squeue', '-h', '-j', job, '-o', '%T'],
                           capture_output=True, text=True).stdout.strip()
    return job if state else None


def submit(command: Sequence[str]) -> str:
    result = subprocess.run(command, cwd=REPO, env=tools_env(),
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f'error: `{shlex.join(command)}` failed (exit '
                 f'{result.returncode}): {result.stderr.strip()}')
    return result.stdout.strip().split(';')[0]


def submit_all(plans: List[Plan], args) -> None:
    """One tools/slurm_batch.sh job per unfinished run, then the job that
    tests and tabulates once all of them have ended (afterany)."""
    jobs = []
    for index, plan in enumerate(plans):
        state = run_state(plan)
        if state not in (NEW, INTERRUPTED):
            print(f'{plan.label()}: {state}, no training job')
            continue
        job = active_slurm_job(plan)
        if job:
            print(f'{plan.label()}: job {job} of an earlier submission is '
                  'still queued or running; waiting for it')
        else:
            job = submit(sbatch_train_command(plan, args, index))
            record = manifest(plan, args.protocol)
            record['slurm_job'] = job
            with open(osp.join(plan.run_dir, MANIFEST), 'w') as handle:
                json.dump(record, handle, indent=1)
            print(f'{plan.label()}: job {job} ({state}), log '
                  f'{plan.run_dir}/slurm-{job}.log')
        jobs.append(job)
    final = submit(sbatch_final_command(args, jobs, len(plans)))
    print(f'tests and table: job {final}, after '
          f'{", ".join(jobs) if jobs else "nothing"}; the table will be in '
          f'{osp.abspath(args.work_dir)}/table.md')


def table_command(plans: List[Plan], args) -> Tuple[List[str], str]:
    """paper_table.py over every run, and the markdown file its output
    goes to (it writes the JSON and the PNG itself)."""
    root = osp.abspath(args.work_dir)
    command = tool(osp.join('analysis', 'paper_table.py'), '--measured-only',
                   '--json', osp.join(root, 'table.json'), '--png',
                   osp.join(root, 'table.png'),
                   *[plan.run_dir for plan in plans])
    return command, osp.join(root, 'table.md')


def tabulate(plans: List[Plan], args) -> str:
    """The table of every run (paper_table.py): markdown, JSON, PNG."""
    command, table = table_command(plans, args)
    result = subprocess.run(command, capture_output=True, text=True,
                            cwd=REPO)
    if result.returncode != 0:
        sys.exit(result.stderr)
    with open(table, 'w') as handle:
        handle.write(result.stdout)
    print(result.stdout)
    root = osp.dirname(table)
    return (f'table: {table}, {osp.join(root, "table.json")}, '
            f'{osp.join(root, "table.png")}')


def shell_line(command: Sequence[str]) -> str:
    """``command`` as a shell line: each word quoted, except that a word
    naming a job-id variable (``$JOB_1``) is double-quoted, so the shell
    that runs the line expands it."""
    return ' '.join(f'"{word}"' if '$JOB_' in word else shlex.quote(word)
                    for word in command)


def print_commands(protocol: Protocol, plans: List[Plan], args) -> None:
    """What the command would run, in order (dry run): lines to paste
    into a shell."""
    print('commands:')
    if args.launcher == 'torchrun':
        for plan in plans:
            print('  ' + shlex.join(train_command(plan, args, False)))
            print('  ' + shlex.join(test_command(
                plan, osp.join(plan.run_dir, plan.final), args)))
        command, table = table_command(plans, args)
        print(f'  {shlex.join(command)} > {shlex.quote(table)}')
        return
    # Slurm opens each job's --output in the run's folder: it must exist.
    print('  mkdir -p ' + shlex.join(plan.run_dir for plan in plans))
    # sbatch --parsable prints the job id, which the table job waits on.
    for index, plan in enumerate(plans):
        print(f'  JOB_{index + 1}=$(' +
              shlex.join(sbatch_train_command(plan, args, index)) + ')')
    jobs = [f'$JOB_{index}' for index in range(1, len(plans) + 1)]
    print('  ' + shell_line(sbatch_final_command(args, jobs, len(plans))))
    print('  # the last job tests each run and writes the table: ' +
          shlex.join(slurm_test_command(plans[0], osp.join(
              plans[0].run_dir, plans[0].final))) + ' ...')


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    protocol = PROTOCOLS[args.protocol]
    plans = plan_runs(protocol, args)
    warnings = batch_warning(protocol, plans, args)
    for line in warnings:
        print(line, file=sys.stderr)
    missing = missing_data(protocol, {plan.run.config: plan.cfg
                                      for plan in plans})
    incomplete = ('the data of protocol '
                  f'{args.protocol} is incomplete (docs/reproduce.md shows '
                  'the layout):\n  ' + '\n  '.join(missing))
    if args.dry_run:
        print_plan(protocol, plans, args)
        if missing:
            print(f'data: {incomplete}\n  (a run stops here with this '
                  'error; the dry run goes on)')
        else:
            print('data: every annotation file and image folder the '
                  'configs read is there')
        print_commands(protocol, plans, args)
        return
    if missing:
        sys.exit(f'error: {incomplete}')
    for plan in plans:
        claim_work_dir(plan, args.protocol)
    start = time.monotonic()
    if args.test_only:
        for plan in plans:
            print(f'{plan.label()}: {test_trained(plan, args)}', flush=True)
    elif args.launcher == 'slurm':
        submit_all(plans, args)
        return
    else:
        for plan in plans:
            began = time.monotonic()
            done = train_and_test(plan, args)
            print(f'{plan.label()}: {done} '
                  f'({time.monotonic() - began:.0f} s)', flush=True)
    print(tabulate(plans, args) +
          f', wall time {time.monotonic() - start:.0f} s')


if __name__ == '__main__':
    main()
