"""Collect the COCO metrics of several runs into markdown tables beside the
SE paper's numbers, with the SE minus plain difference per backbone, and
runs of the published SE recipes' configs beside their published AP.

    python tools/analysis/paper_table.py WORK_DIR [WORK_DIR ...]
        [--measured-only] [--json FILE] [--png FILE]

Each WORK_DIR holds the ``test_metrics.json`` that ``tools/test.py`` writes.
Runs are grouped by protocol: the config name with its backbone left out, so
``faster-rcnn_r50_fpn_1x_coco`` and ``faster-rcnn_se-r50_fpn_1x_coco`` land
in one table. Below each table, the sanity anchor: a published AP of the
plain detector with the same schedule (``ANCHORS``). Several runs of one
config (seeds, `make compare`) fill one
cell as mean ± sample standard deviation, and SE - plain is then the
difference of the means ± its standard error, sqrt(s_se²/n_se +
s_plain²/n_plain). Below the metrics, each backbone's parameter count (from
the test run) and training seconds per iteration (from the training log in
the same work dir, if there is one). A cell with no run behind it says "not
measured"; numbers are only ever copied from the runs or from the paper.

A run that exists but has no number says why in its cell: a test that found
no detection at all (MMDetection's CocoMetric then returns no metrics and
``test_metrics.json`` holds ``"metrics": {}``) counts as AP 0 and says so;
a work dir of tools/reproduce_paper.py without test metrics (its
``reproduce.json``) gives the training's state instead: stopped at a
non-finite loss (``stopped.json``), not finished, or not tested.
``--json`` and ``--png`` also write the runs' numbers beside the paper's as
JSON and as a figure (AP per run, plain against SE, the paper's values and
the anchors marked).
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
NO_DETECTION = 'no detection: CocoMetric returned no metrics, AP 0'
# What tools/reproduce_paper.py writes into each run's work dir.
MANIFEST = 'reproduce.json'
STOPPED = 'stopped.json'
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

# The sanity anchors: a published box AP (percent) of the plain detector
# trained with the same schedule as the protocol, per backbone family and
# depth, which a healthy plain run should come close to.
ANCHORS = {
    'faster-rcnn_{backbone}-caffe_fpn_tpami-table7-2x_coco': dict(
        results={('ResNet', 50): 37.9, ('ResNet', 101): 39.8},
        source='Detectron MODEL_ZOO.md: R-50-FPN and R-101-FPN Faster '
        'R-CNN, 2x'),
    'faster-rcnn_{backbone}-caffe-c4_cvpr-basic_coco-2014': dict(
        results={('ResNet', 101): 27.2},
        source='He et al., arXiv 1512.03385, Table 8: ResNet-101 basic '
        'Faster R-CNN, COCO 2014 val'),
    'faster-rcnn_{backbone}_fpn_1x_coco': dict(
        results={('ResNet', 50): 37.4},
        source='MMDetection configs/faster_rcnn/README.md: R-50-FPN '
        '(pytorch style) Faster R-CNN, 1x'),
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


def _training_state(work_dir: str, record: dict) -> str:
    """Why a run of tools/reproduce_paper.py has no test metrics."""
    stopped = osp.join(work_dir, STOPPED)
    if osp.isfile(stopped):
        with open(stopped) as handle:
            reason = json.load(handle)['reason']
        # The hook's message goes on with the remedy after a semicolon.
        return f'no number: {reason.split(";")[0]}'
    record_file = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record_file):
        return 'no number: not trained yet'
    with open(record_file) as handle:
        newest = osp.basename(handle.read().strip())
    if newest == record['final_checkpoint']:
        return f'no number: {newest} not tested yet'
    return (f'no number: training not finished ({newest}, not yet '
            f'{record["final_checkpoint"]})')


def _unmeasured_run(work_dir: str) -> dict:
    """A run of tools/reproduce_paper.py that has no test metrics yet, from
    its ``reproduce.json``: no metrics, and a note that says why."""
    with open(osp.join(work_dir, MANIFEST)) as handle:
        record = json.load(handle)
    return dict(config=record['config'], checkpoint=None,
                model=dict(backbone=record['backbone'],
                           depth=record['depth'], parameters=None),
                metrics={}, note=_training_state(work_dir, record))


def load_run(path: str) -> dict:
    """A run's ``test_metrics.json``, from its work dir or the file, with
    its training speed added when the work dir holds the training log; a
    test without any detection gets AP 0 and a note, a reproduce_paper.py
    work dir without test metrics a note only."""
    file = osp.join(path, 'test_metrics.json') if osp.isdir(path) else path
    if not osp.isfile(file) and osp.isfile(osp.join(path, MANIFEST)):
        run = _unmeasured_run(path)
    elif not osp.isfile(file):
        raise FileNotFoundError(
            f'{file} does not exist; run tools/test.py CONFIG CHECKPOINT '
            f'--work-dir {path} first')
    else:
        with open(file) as handle:
            run = json.load(handle)
        if not run['metrics']:
            run['metrics'] = {key: 0.0 for _, key in METRICS}
            run['note'] = NO_DETECTION
    backbone = run['model']['backbone']
    if backbone not in BACKBONES:
        raise ValueError(f'{file}: backbone {backbone!r} is not one of '
                         f'{sorted(BACKBONES)}')
    run['work_dir'] = osp.dirname(file)
    run['seconds_per_iter'] = train_seconds_per_iter(run['work_dir'])
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


def _cell(runs: List[dict], key: str, digits: int) -> str:
    """The runs' mean ± standard deviation of ``key``, with what their
    notes say: tests without a detection (AP 0) and runs without a
    number."""
    values = _values(runs, key)
    empty = sum(run.get('note') == NO_DETECTION for run in runs)
    reasons = sorted({run['note'] for run in runs
                      if run.get('note') and run['note'] != NO_DETECTION})
    unnumbered = len(runs) - len(values)
    text = _mean_std(values, digits) if values or not reasons else ''
    if empty:
        text += (f' ({NO_DETECTION})' if len(runs) == 1 else
                 f' ({empty} of {len(runs)} runs: {NO_DETECTION})')
    if reasons:
        text += (f' ({unnumbered} of {len(runs)} runs: ' if values else
                 '') + '; '.join(reasons) + (')' if values else '')
    return text


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
            plain_runs = measured.get(False, [])
            se_runs = measured.get(True, [])
            plain = _values(plain_runs, key)
            se = _values(se_runs, key)
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
                _cell(plain_runs, key, 1),
                _cell(se_runs, key, 1),
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
    anchor = ANCHORS.get(protocol)
    if anchor:
        values = ', '.join(f'{family}-{depth} {ap:.1f}' for (family, depth),
                           ap in sorted(anchor['results'].items()))
        lines += [
            '', f'Sanity anchor, the published AP of the plain detector with '
            f'this schedule: {values} ({anchor["source"]}).'
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


def group_runs(paths: Sequence[str], measured_only: bool = False
               ) -> Tuple[Dict[str, Runs], Dict[str, List[dict]]]:
    """The runs in ``paths`` by protocol, backbone row and plain or SE
    (with an empty entry for each paper protocol none of them used, unless
    ``measured_only``), and the runs of published recipes by config."""
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
    return grouped, recipes


def markdown(grouped: Dict[str, Runs], recipes: Dict[str, List[dict]],
             measured_only: bool) -> str:
    """The tables of :func:`group_runs`' result."""
    lines: List[str] = []
    for protocol, runs in grouped.items():
        lines += table(protocol, runs) + ['']
    if recipes or not measured_only:
        lines += published_table(recipes) + ['']
    return '\n'.join(lines)


def paper_tables(paths: Sequence[str], measured_only: bool = False) -> str:
    """The markdown for the runs in ``paths``, and, unless
    ``measured_only``, an empty table for each paper protocol none of them
    used."""
    return markdown(*group_runs(paths, measured_only), measured_only)


def _run_record(run: dict) -> dict:
    """One run in the JSON: its work dir, AP, AP50, AP75 (percent, None
    without a number) and note."""
    record = dict(work_dir=run['work_dir'], checkpoint=run.get('checkpoint'))
    for metric, key in METRICS:
        value = run['metrics'].get(key)
        record[metric] = None if value is None else 100 * float(value)
    record['note'] = run.get('note')
    return record


def results(grouped: Dict[str, Runs]) -> dict:
    """The runs beside the paper's numbers and the anchors, as data: per
    protocol, one entry per backbone row."""
    protocols = []
    for protocol, runs in grouped.items():
        paper = PAPER.get(protocol, dict(title=None, results={}))
        anchor = ANCHORS.get(protocol, dict(results={}, source=None))
        rows = []
        for family, depth in sorted(runs.keys() | paper['results'].keys()):
            reported = paper['results'].get((family, depth))
            measured = runs.get((family, depth), {})
            rows.append(dict(
                backbone=f'{family}-{depth}',
                plain=[_run_record(run) for run in measured.get(False, [])],
                se=[_run_record(run) for run in measured.get(True, [])],
                paper=None if reported is None else {
                    side: dict(zip(('AP', 'AP50'), values))
                    for side, values in reported.items()
                },
                anchor_plain_AP=anchor['results'].get((family, depth))))
        protocols.append(dict(protocol=protocol, paper_title=paper['title'],
                              anchor_source=anchor['source'], rows=rows))
    return dict(protocols=protocols)


def draw(data: dict, out: str) -> None:
    """One panel per protocol: each run's AP (plain grey, SE red), the
    paper's AP as a bar across each column, the published plain AP (the
    sanity anchor) as a cross; runs without a number are listed below."""
    import matplotlib
    matplotlib.use('Agg')  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt

    panels = data['protocols']
    figure, axes_list = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels) + 1, 4.5), squeeze=False)
    colours = dict(plain='tab:gray', se='tab:red')
    for axes, panel in zip(axes_list[0], panels):
        notes = []
        highest = 1.0
        for x, row in enumerate(panel['rows']):
            for offset, side in ((-0.17, 'plain'), (0.17, 'se')):
                label = 'SE' if side == 'se' else 'plain'
                measured = [run['AP'] for run in row[side]
                            if run['AP'] is not None]
                if measured:
                    axes.scatter([x + offset] * len(measured), measured,
                                 color=colours[side], s=36, zorder=3,
                                 label=f'{label}: measured (each run)')
                if measured:
                    mean = statistics.fmean(measured)
                    text = f'{mean:.1f}' + (f' (mean of {len(measured)})'
                                            if len(measured) > 1 else '')
                    axes.annotate(text, (x + offset, mean), xytext=(6, -3),
                                  textcoords='offset points', fontsize=7,
                                  color=colours[side])
                highest = max([highest, *measured])
                notes += [f'{label} {row["backbone"]}: {run["note"]}'
                          for run in row[side] if run['note']]
                if row['paper']:
                    highest = max(highest, row['paper'][side]['AP'])
                    axes.plot([x + offset - 0.13, x + offset + 0.13],
                              [row['paper'][side]['AP']] * 2,
                              color=colours[side], lw=3, zorder=2,
                              label=f'{label}: paper')
            if row['anchor_plain_AP'] is not None:
                highest = max(highest, row['anchor_plain_AP'])
                axes.scatter([x - 0.17], [row['anchor_plain_AP']],
                             marker='x', color='black', s=60, zorder=4,
                             label='plain: published, same schedule')
        handles, labels = axes.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        # Legend and notes below the panel, clear of the points.
        axes.legend(unique.values(), unique.keys(), fontsize=8, ncol=2,
                    loc='upper left', bbox_to_anchor=(0, -0.08),
                    frameon=False)
        axes.set_xticks(range(len(panel['rows'])),
                        [row['backbone'] for row in panel['rows']])
        axes.set_xlim(-0.6, len(panel['rows']) - 0.4)
        axes.set_ylim(0, 1.15 * highest)
        axes.set_ylabel('COCO box AP (%)')
        axes.set_title(panel['protocol'].replace('{backbone}', '*'),
                       fontsize=9)
        axes.grid(axis='y', alpha=0.3)
        if notes:
            axes.text(0, -0.3, 'no number or AP 0:\n' + '\n'.join(notes),
                      transform=axes.transAxes, fontsize=7, va='top')
    figure.savefig(out, dpi=110, bbox_inches='tight')
    plt.close(figure)


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
    parser.add_argument('--json', help='also write the numbers here')
    parser.add_argument('--png', help='also draw them here')
    args = parser.parse_args()
    try:
        grouped, recipes = group_runs(args.work_dirs, args.measured_only)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(markdown(grouped, recipes, args.measured_only))
    data = results(grouped)
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(data, handle, indent=1)
    if args.png:
        draw(data, args.png)
    return 0


if __name__ == '__main__':
    sys.exit(main())
