"""Collect the COCO metrics of several runs into markdown tables beside the
SE paper's numbers, with the SE minus plain difference per backbone, and
runs of the published SE recipes' configs beside their published AP.

    python tools/analysis/paper_table.py WORK_DIR [WORK_DIR ...]

Each WORK_DIR holds the ``test_metrics.json`` that ``tools/test.py`` writes.
Runs are grouped by protocol: the config name with its backbone left out, so
``faster-rcnn_r50_fpn_1x_coco`` and ``faster-rcnn_se-r50_fpn_1x_coco`` land
in one table. Several runs of one config (seeds, `make compare`) fill one
cell as mean ± sample standard deviation, and SE - plain is then the
difference of the means ± its standard error, sqrt(s_se²/n_se +
s_plain²/n_plain). Below the metrics, each backbone's parameter count (from
the test run) and training seconds per iteration (from the training log in
the same work dir, if there is one). A cell with no run behind it says "not
measured"; numbers are only ever copied from the runs or from the paper.
"""
import argparse
import glob
import json
import math
import os.path as osp
import re
import statistics
import sys
from typing import Dict, List, Optional, Sequence, Tuple

NOT_MEASURED = 'not measured'
NOT_IN_PAPER = 'not in the paper'
METRICS = (('AP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50'),
           ('AP75', 'coco/bbox_mAP_75'))

# Hu et al., arXiv 1709.01507: AP and AP50 in percent, per protocol,
# backbone family and depth, plain and with SE (the paper gives no AP75).
PAPER = {
    'faster-rcnn_{backbone}-caffe_fpn_tpami-table7-2x_coco': dict(
        title='journal version, Table 7: Faster R-CNN FPN, Detectron 2x, '
        'COCO val2017 (minival)',
        results={
            ('ResNet', 50): dict(plain=(38.0, 57.9), se=(40.4, 61.0)),
            ('ResNet', 101): dict(plain=(39.9, 60.1), se=(41.9, 62.7)),
        }),
    'faster-rcnn_{backbone}-caffe-c4_cvpr-basic_coco-2014': dict(
        title='conference version: basic Faster R-CNN (C4), COCO 2014 '
        '40k validation set',
        results={
            ('ResNet', 50): dict(plain=(25.1, 45.2), se=(26.4, 46.8)),
            ('ResNet', 101): dict(plain=(27.2, 48.4), se=(27.9, 49.2)),
        }),
}

# Recipes published with their COCO val2017 AP (percent) that configs here
# reproduce, by config name: there is no plain twin, so their runs are put
# beside the published numbers instead.
PADDLEDET_ZOO = 'PaddleDetection 0.x docs/MODEL_ZOO.md'
PUBLISHED = {
    'cascade-mask-rcnn_senet154-mdconv-c3-c5_fpn-gn-all_ms-paddledet-s1x_coco':
    dict(bbox=51.9, segm=43.9,
         source='PaddleDetection 0.x configs/dcn/README.md'),
    'faster-rcnn_senet154-vd-paddleclas_fpn_paddledet-s1x_coco': dict(
        bbox=42.9, segm=None, source=PADDLEDET_ZOO),
    'mask-rcnn_senet154-vd-paddleclas_fpn_paddledet-s1x_coco': dict(
        bbox=44.0, segm=38.7, source=PADDLEDET_ZOO),
}
NOT_PUBLISHED = 'not published'

# Backbone type -> (family, with SE).
BACKBONES = {
    'ResNet': ('ResNet', False),
    'SEResNet': ('ResNet', True),
    'ResNeXt': ('ResNeXt', False),
    'SEResNeXt': ('ResNeXt', True),
    'SENet154': ('SENet', True),
}

Row = Tuple[str, int]
Runs = Dict[Row, Dict[bool, List[dict]]]


def protocol_of(config: str) -> str:
    """The config's file name with its backbone field (the second one in
    MMDetection's naming) replaced by ``{backbone}``."""
    fields = osp.splitext(osp.basename(config))[0].split('_')
    if len(fields) > 1:
        fields[1] = re.sub(r'^(se-)?([rx]\d+(-\d+x\d+d)?|senet154)',
                           '{backbone}', fields[1])
    return '_'.join(fields)


def train_seconds_per_iter(work_dir: str) -> Optional[float]:
    """Mean seconds per training iteration over the training logs in
    ``work_dir`` (mmengine's ``*/vis_data/scalars.json``), without each
    log's first entry, which includes the start-up; None without a log."""
    times = []
    for path in sorted(glob.glob(
            osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as handle:
            entries = [json.loads(line) for line in handle if line.strip()]
        train = [entry['time'] for entry in entries if 'loss' in entry]
        times += train[1:]
    return statistics.fmean(times) if times else None


def load_run(path: str) -> dict:
    """A run's ``test_metrics.json``, from its work dir or the file, with
    its training speed added when the work dir holds the training log."""
    file = osp.join(path, 'test_metrics.json') if osp.isdir(path) else path
    if not osp.isfile(file):
        raise FileNotFoundError(
            f'{file} does not exist; run tools/test.py CONFIG CHECKPOINT '
            f'--work-dir {path} first')
    with open(file) as handle:
        run = json.load(handle)
    backbone = run['model']['backbone']
    if backbone not in BACKBONES:
        raise ValueError(f'{file}: backbone {backbone!r} is not one of '
                         f'{sorted(BACKBONES)}')
    run['seconds_per_iter'] = train_seconds_per_iter(osp.dirname(file))
    return run


def _values(runs: List[dict], key: str) -> List[float]:
    return [100 * float(run['metrics'][key]) for run in runs
            if key in run['metrics']]


def _mean_std(values: List[float], digits: int) -> str:
    if not values:
        return NOT_MEASURED
    if len(values) == 1:
        return f'{values[0]:.{digits}f}'
    return (f'{statistics.fmean(values):.{digits}f} ± '
            f'{statistics.stdev(values):.{digits}f}')


def _delta(se: List[float], plain: List[float], digits: int) -> str:
    """SE minus plain: the difference of the means, ± its standard error
    when both sides have several runs."""
    if not se or not plain:
        return NOT_MEASURED
    delta = statistics.fmean(se) - statistics.fmean(plain)
    if len(se) == 1 or len(plain) == 1:
        return f'{delta:+.{digits}f}'
    error = math.sqrt(statistics.variance(se) / len(se) +
                      statistics.variance(plain) / len(plain))
    return f'{delta:+.{digits}f} ± {error:.{digits}f}'


def _relative(se: List[float], plain: List[float]) -> str:
    if not se or not plain:
        return NOT_MEASURED
    ratio = statistics.fmean(se) / statistics.fmean(plain)
    return f'{100 * (ratio - 1):+.1f} %'


def _resources(runs: Dict[bool, List[dict]], family: str,
               depth: int) -> List[str]:
    """Rows for the number of runs, parameters and training speed."""
    plain, se = runs.get(False, []), runs.get(True, [])
    params = {
        with_se: [run['model']['parameters'] / 1e6 for run in group
                  if run['model'].get('parameters')]
        for with_se, group in ((False, plain), (True, se))
    }
    speed = {
        with_se: [run['seconds_per_iter'] for run in group
                  if run['seconds_per_iter'] is not None]
        for with_se, group in ((False, plain), (True, se))
    }
    absent = [NOT_IN_PAPER] * 3
    name = f'{family}-{depth}'
    return [
        f'| {name} | runs | {len(plain)} | {len(se)} | | ' +
        ' | '.join(absent) + ' |',
        f'| {name} | parameters (M) | {_mean_std(params[False], 3)} | '
        f'{_mean_std(params[True], 3)} | '
        f'{_relative(params[True], params[False])} | ' + ' | '.join(absent) +
        ' |',
        f'| {name} | training s/iter | {_mean_std(speed[False], 3)} | '
        f'{_mean_std(speed[True], 3)} | '
        f'{_relative(speed[True], speed[False])} | ' + ' | '.join(absent) +
        ' |',
    ]


def table(protocol: str, runs: Runs) -> List[str]:
    """Markdown lines for one protocol."""
    paper = PAPER.get(protocol, dict(title=None, results={}))
    title = f'### {protocol}'
    if paper['title']:
        title += f' (paper: {paper["title"]})'
    lines = [
        title, '',
        '| backbone | metric | plain | SE | SE - plain | paper plain '
        '| paper SE | paper SE - plain |', '|---|---|---|---|---|---|---|---|'
    ]
    for family, depth in sorted(runs.keys() | paper['results'].keys()):
        measured = runs.get((family, depth), {})
        reported = paper['results'].get((family, depth))
        for column, (metric, key) in enumerate(METRICS):
            plain = _values(measured.get(False, []), key)
            se = _values(measured.get(True, []), key)
            if reported and column < len(reported['plain']):
                paper_plain = reported['plain'][column]
                paper_se = reported['se'][column]
                paper_cells = [
                    f'{paper_plain:.1f}', f'{paper_se:.1f}',
                    f'{paper_se - paper_plain:+.1f}'
                ]
            else:
                paper_cells = [NOT_IN_PAPER] * 3
            lines.append('| ' + ' | '.join([
                f'{family}-{depth}', metric,
                _mean_std(plain, 1),
                _mean_std(se, 1),
                _delta(se, plain, 1), *paper_cells
            ]) + ' |')
        if measured:
            lines += _resources(measured, family, depth)
    if any(len(group) > 1 for cell in runs.values()
           for group in cell.values()):
        lines += [
            '', 'Several runs: mean ± sample standard deviation over the '
            'runs; SE - plain is the difference of the means ± its standard '
            'error (relative difference for parameters and speed).'
        ]
    return lines


def published_table(runs: Dict[str, List[dict]]) -> List[str]:
    """Markdown lines putting each recipe's runs beside its published box
    and mask AP (mean ± sample standard deviation over several runs)."""
    lines = [
        '### Published SE recipes', '',
        '| config | metric | measured | published | measured - published '
        '| source |', '|---|---|---|---|---|---|'
    ]
    for config, recipe in PUBLISHED.items():
        for metric in ('bbox', 'segm'):
            measured = _values(runs.get(config, []), f'coco/{metric}_mAP')
            published = recipe[metric]
            if published is None:
                cells = [NOT_PUBLISHED, NOT_PUBLISHED]
            else:
                difference = (f'{statistics.fmean(measured) - published:+.1f}'
                              if measured else NOT_MEASURED)
                cells = [f'{published:.1f}', difference]
            lines.append(f'| {config} | {metric} AP | '
                         f'{_mean_std(measured, 1)} | {" | ".join(cells)} | '
                         f'{recipe["source"]} |')
    return lines


def paper_tables(paths: Sequence[str], measured_only: bool = False) -> str:
    """The markdown for the runs in ``paths``, and, unless
    ``measured_only``, an empty table for each paper protocol none of them
    used."""
    grouped: Dict[str, Runs] = {} if measured_only else {
        protocol: {}
        for protocol in PAPER
    }
    recipes: Dict[str, List[dict]] = {}
    for path in paths:
        run = load_run(path)
        config = osp.splitext(osp.basename(run['config']))[0]
        if config in PUBLISHED:
            recipes.setdefault(config, []).append(run)
            continue
        family, with_se = BACKBONES[run['model']['backbone']]
        row = (family, run['model']['depth'] or 154)
        grouped.setdefault(protocol_of(run['config']), {}).setdefault(
            row, {}).setdefault(with_se, []).append(run)
    lines: List[str] = []
    for protocol, runs in grouped.items():
        lines += table(protocol, runs) + ['']
    if recipes or not measured_only:
        lines += published_table(recipes) + ['']
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'work_dirs',
        nargs='*',
        help='work dirs (or test_metrics.json files) of tools/test.py runs')
    parser.add_argument(
        '--measured-only',
        action='store_true',
        help="leave out the paper's protocols and the published recipes "
        'that no run used')
    args = parser.parse_args()
    try:
        print(paper_tables(args.work_dirs, args.measured_only))
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
