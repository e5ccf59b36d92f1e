"""Collect the COCO metrics of several runs into markdown tables beside the
SE paper's numbers, with the SE minus plain difference per backbone.

    python tools/analysis/paper_table.py WORK_DIR [WORK_DIR ...]

Each WORK_DIR holds the ``test_metrics.json`` that ``tools/test.py`` writes.
Runs are grouped by protocol: the config name with its backbone left out, so
``faster-rcnn_r50_fpn_1x_coco`` and ``faster-rcnn_se-r50_fpn_1x_coco`` land
in one table. A cell with no run behind it says "not measured"; numbers are
only ever copied from the runs or from the paper.
"""
import argparse
import json
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple

NOT_MEASURED = 'not measured'
METRICS = (('AP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50'))

# Hu et al., arXiv 1709.01507: (AP, AP50) in percent, per protocol,
# backbone family and depth, plain and with SE.
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

# Backbone type -> (family, with SE).
BACKBONES = {
    'ResNet': ('ResNet', False),
    'SEResNet': ('ResNet', True),
    'ResNeXt': ('ResNeXt', False),
    'SEResNeXt': ('ResNeXt', True),
    'SENet154': ('SENet', True),
}

Row = Tuple[str, int]


def protocol_of(config: str) -> str:
    """The config's file name with its backbone field (the second one in
    MMDetection's naming) replaced by ``{backbone}``."""
    fields = osp.splitext(osp.basename(config))[0].split('_')
    if len(fields) > 1:
        fields[1] = re.sub(r'^(se-)?([rx]\d+(-\d+x\d+d)?|senet154)',
                           '{backbone}', fields[1])
    return '_'.join(fields)


def load_run(path: str) -> dict:
    """A run's ``test_metrics.json``, from its work dir or the file."""
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
    return run


def _percent(run: Optional[dict], key: str) -> Optional[float]:
    if run is None or key not in run['metrics']:
        return None
    return 100 * float(run['metrics'][key])


def _cell(value: Optional[float]) -> str:
    return NOT_MEASURED if value is None else f'{value:.1f}'


def _delta(se: Optional[float], plain: Optional[float]) -> str:
    if se is None or plain is None:
        return NOT_MEASURED
    return f'{se - plain:+.1f}'


def table(protocol: str, runs: Dict[Row, Dict[bool, dict]]) -> List[str]:
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
            plain = _percent(measured.get(False), key)
            se = _percent(measured.get(True), key)
            if reported:
                paper_plain = reported['plain'][column]
                paper_se = reported['se'][column]
                paper_cells = [
                    f'{paper_plain:.1f}', f'{paper_se:.1f}',
                    f'{paper_se - paper_plain:+.1f}'
                ]
            else:
                paper_cells = ['not in the paper'] * 3
            lines.append('| ' + ' | '.join([
                f'{family}-{depth}', metric,
                _cell(plain),
                _cell(se),
                _delta(se, plain), *paper_cells
            ]) + ' |')
    return lines


def paper_tables(paths: Sequence[str]) -> str:
    """The markdown for the runs in ``paths``, and an empty table for each
    paper protocol none of them used."""
    grouped: Dict[str, Dict[Row, Dict[bool, dict]]] = {
        protocol: {}
        for protocol in PAPER
    }
    for path in paths:
        run = load_run(path)
        family, with_se = BACKBONES[run['model']['backbone']]
        row = (family, run['model']['depth'] or 154)
        grouped.setdefault(protocol_of(run['config']), {}).setdefault(
            row, {})[with_se] = run
    lines: List[str] = []
    for protocol, runs in grouped.items():
        lines += table(protocol, runs) + ['']
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'work_dirs',
        nargs='*',
        help='work dirs (or test_metrics.json files) of tools/test.py runs')
    args = parser.parse_args()
    try:
        print(paper_tables(args.work_dirs))
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
