"""tools/analysis/paper_table.py and tools/analysis/diff_configs.py."""
import json
import subprocess
import sys
from pathlib import Path

from .utils import tool_in_process

REPO = Path(__file__).parents[2]
TABLE = REPO / 'tools' / 'analysis' / 'paper_table.py'


def write_run(folder, config, backbone, depth, ap, ap50, ap75=None,
              parameters=None):
    folder.mkdir()
    metrics = {'coco/bbox_mAP': ap, 'coco/bbox_mAP_50': ap50}
    if ap75 is not None:
        metrics['coco/bbox_mAP_75'] = ap75
    (folder / 'test_metrics.json').write_text(
        json.dumps(
            dict(
                config=f'configs/senet/{config}.py',
                checkpoint='epoch_24.pth',
                model=dict(detector='FasterRCNN', backbone=backbone,
                           depth=depth, groups=None, neck='FPN',
                           shared_head=None, parameters=parameters),
                metrics=metrics)))
    return folder


def write_table7_r50_pair(tmp_path, se_ap, se_ap50):
    """Runs of Table 7's plain R-50 (AP 0.381, AP50 0.583) and SE-R-50
    configs in ``tmp_path/plain`` and ``tmp_path/se``."""
    protocol = 'fpn_tpami-table7-2x_coco'
    plain = write_run(tmp_path / 'plain', f'faster-rcnn_r50-caffe_{protocol}',
                      'ResNet', 50, 0.381, 0.583)
    se = write_run(tmp_path / 'se', f'faster-rcnn_se-r50-caffe_{protocol}',
                   'SEResNet', 50, se_ap, se_ap50)
    return plain, se


def run_table(*args):
    return subprocess.run([sys.executable, str(TABLE), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def rows(output):
    return {
        tuple(cells[:2]): cells[2:]
        for cells in ([c.strip() for c in line.strip('|').split('|')]
                      for line in output.splitlines()
                      if line.startswith('| ResNet'))
    }


def test_measured_cells_beside_the_paper_with_deltas(tmp_path):
    plain, se = write_table7_r50_pair(tmp_path, 0.402, 0.607)
    result = run_table(plain, se)
    assert result.returncode == 0, result.stderr
    table7 = result.stdout.split('### ')[1]
    assert table7.startswith(
        'faster-rcnn_{backbone}-caffe_fpn_tpami-table7-2x_coco (paper: '
        'journal version, Table 7')
    measured = rows(table7)
    assert measured[('ResNet-50', 'AP')] == [
        '38.1', '40.2', '+2.1', '38.0', '40.4', '+2.4'
    ]
    assert measured[('ResNet-50', 'AP50')] == [
        '58.3', '60.7', '+2.4', '57.9', '61.0', '+3.1'
    ]
    # The paper's other depth is listed, but nothing is made up for it.
    assert measured[('ResNet-101', 'AP')] == [
        'not measured', 'not measured', 'not measured', '39.9', '41.9', '+2.0'
    ]


def test_runs_outside_the_paper_get_their_own_table(tmp_path):
    se = write_run(tmp_path / 'se', 'faster-rcnn_se-r50_fpn_1x_coco',
                   'SEResNet', 50, 0.35, 0.55)
    result = run_table(se)
    assert result.returncode == 0, result.stderr
    section = [s for s in result.stdout.split('### ')
               if s.startswith('faster-rcnn_{backbone}_fpn_1x_coco')][0]
    assert rows(section)[('ResNet-50', 'AP')] == [
        'not measured', '35.0', 'not measured', 'not in the paper',
        'not in the paper', 'not in the paper'
    ]
    # With no runs, the paper's tables are printed with nothing measured.
    empty = run_table()
    assert empty.returncode == 0
    assert '| ResNet-50 | AP | not measured | not measured |' in empty.stdout


def write_speed(folder, seconds):
    """A training log with a first (start-up) entry and two more."""
    log = folder / '20260101_000000' / 'vis_data' / 'scalars.json'
    log.parent.mkdir(parents=True)
    log.write_text(''.join(
        json.dumps(dict(loss=1.0, time=t, step=i)) + '\n'
        for i, t in enumerate([9.0, *seconds])))


def test_seeds_give_mean_std_and_the_difference_with_its_error(tmp_path):
    name = 'faster-rcnn_{}_fpn-lean_8e_toy-shapes'
    runs = []
    for seed, (plain_ap, se_ap) in enumerate([(0.60, 0.64), (0.62, 0.65),
                                              (0.64, 0.69)]):
        runs.append(write_run(tmp_path / f'plain{seed}', name.format('r18'),
                              'ResNet', 18, plain_ap, 0.9, 0.7, 12_000_000))
        runs.append(write_run(tmp_path / f'se{seed}', name.format('se-r18'),
                              'SEResNet', 18, se_ap, 0.9, 0.75, 12_120_000))
        write_speed(runs[-2], [0.5, 0.7])
        write_speed(runs[-1], [0.55, 0.77])
    result = run_table('--measured-only', *runs)
    assert result.returncode == 0, result.stderr
    # Only the measured protocol, not the paper's empty ones.
    assert result.stdout.count('### ') == 1
    measured = rows(result.stdout)
    # plain 62.0 ± 2.0, SE 66.0 ± 2.6458; error sqrt((4 + 7) / 3) = 1.915
    assert measured[('ResNet-18', 'AP')] == [
        '62.0 ± 2.0', '66.0 ± 2.6', '+4.0 ± 1.9', 'not in the paper',
        'not in the paper', 'not in the paper'
    ]
    assert measured[('ResNet-18', 'AP75')][:3] == [
        '70.0 ± 0.0', '75.0 ± 0.0', '+5.0 ± 0.0'
    ]
    assert measured[('ResNet-18', 'runs')][:2] == ['3', '3']
    assert measured[('ResNet-18', 'parameters (M)')][:3] == [
        '12.000 ± 0.000', '12.120 ± 0.000', '+1.0 %'
    ]
    # The first entry of each log (start-up) is left out: 0.6 vs 0.66.
    assert measured[('ResNet-18', 'training s/iter')][:3] == [
        '0.600 ± 0.000', '0.660 ± 0.000', '+10.0 %'
    ]
    assert 'difference of the means ± its standard error' in result.stdout


def test_missing_metrics_file_is_named(tmp_path):
    result = run_table(tmp_path)
    assert result.returncode == 1
    assert f'{tmp_path}/test_metrics.json does not exist' in result.stderr
    assert 'tools/test.py CONFIG CHECKPOINT --work-dir' in result.stderr


def test_diff_configs_shows_the_backbone_swap():
    folder = REPO / 'configs' / 'senet'
    result = tool_in_process('analysis/diff_configs.py',
                             folder / 'faster-rcnn_r50_fpn_2x_coco.py',
                             folder / 'faster-rcnn_se-r50_fpn_2x_coco.py',
                             cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "model.backbone.type: 'ResNet' -> 'SEResNet'" in result.stdout
    assert 'train_cfg' not in result.stdout


def test_published_recipe_runs_sit_beside_the_published_ap(tmp_path):
    config = ('cascade-mask-rcnn_senet154-mdconv-c3-c5_fpn-gn-all_'
              'ms-paddledet-s1x_coco')
    run = write_run(tmp_path / 'cascade', config, 'SENet154', None, 0.502,
                    0.70)
    metrics = json.loads((run / 'test_metrics.json').read_text())
    metrics['metrics']['coco/segm_mAP'] = 0.431
    (run / 'test_metrics.json').write_text(json.dumps(metrics))
    result = run_table(run, '--measured-only')
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('### Published SE recipes')
    assert f'| {config} | bbox AP | 50.2 | 51.9 | -1.7 | PaddleDetection ' \
        '0.x configs/dcn/README.md |' in result.stdout
    assert f'| {config} | segm AP | 43.1 | 43.9 | -0.8 |' in result.stdout
    faster = 'faster-rcnn_senet154-vd-paddleclas_fpn_paddledet-s1x_coco'
    assert f'| {faster} | bbox AP | not measured | 42.9 | not measured |' \
        in result.stdout
    assert f'| {faster} | segm AP | not measured | not published | not ' \
        'published |' in result.stdout


def test_a_test_without_detections_counts_as_ap_0_and_says_why(tmp_path):
    plain, se = write_table7_r50_pair(tmp_path, 0.4, 0.6)
    # What tools/test.py writes when CocoMetric found no detection at all.
    record = json.loads((se / 'test_metrics.json').read_text())
    record['metrics'] = {}
    (se / 'test_metrics.json').write_text(json.dumps(record))
    result = run_table('--measured-only', plain, se)
    assert result.returncode == 0, result.stderr
    measured = rows(result.stdout)
    assert measured[('ResNet-50', 'AP')][:3] == [
        '38.1', '0.0 (no detection: CocoMetric returned no metrics, AP 0)',
        '-38.1'
    ]


def write_reproduce_run(folder, config, backbone, last=None, stopped=None):
    """A work dir of tools/reproduce_paper.py without test metrics."""
    folder.mkdir()
    (folder / 'reproduce.json').write_text(json.dumps(dict(
        config=f'configs/senet/{config}.py', seed=0, cfg_options=[],
        protocol='tpami-table7', backbone=backbone, depth=50,
        final_checkpoint='iter_180000.pth')))
    if last:
        (folder / 'last_checkpoint').write_text(str(folder / last))
    if stopped:
        (folder / 'stopped.json').write_text(json.dumps(dict(
            reason=stopped, log=str(folder / 'reproduce.log'))))
    return folder


def test_runs_without_metrics_say_why_and_are_drawn(tmp_path):
    protocol = 'fpn_tpami-table7-2x_coco'
    stopped = write_reproduce_run(
        tmp_path / 'stopped', f'faster-rcnn_r50-caffe_{protocol}', 'ResNet',
        last='iter_40000.pth', stopped='training stopped at iteration 41234 '
        '(epoch 1, batch 41234): non-finite loss (loss_cls=nan); the last '
        'checkpoint, iter_40000.pth, is from before it and was kept')
    unfinished = write_reproduce_run(
        tmp_path / 'unfinished', f'faster-rcnn_se-r50-caffe_{protocol}',
        'SEResNet', last='iter_120000.pth')
    out = tmp_path / 'table'
    result = run_table('--measured-only', stopped, unfinished, '--json',
                       f'{out}.json', '--png', f'{out}.png')
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout)[('ResNet-50', 'AP')][:3] == [
        'no number: training stopped at iteration 41234 (epoch 1, batch '
        '41234): non-finite loss (loss_cls=nan)',
        'no number: training not finished (iter_120000.pth, not yet '
        'iter_180000.pth)', 'not measured'
    ]
    assert ('Sanity anchor, the published AP of the plain detector with this '
            'schedule: ResNet-50 37.9, ResNet-101 39.8 (Detectron '
            'MODEL_ZOO.md') in result.stdout
    (protocol_data, ) = json.loads((tmp_path / 'table.json').read_text())[
        'protocols']
    row = protocol_data['rows'][0]
    assert row['backbone'] == 'ResNet-50'
    assert row['plain'][0]['AP'] is None
    assert row['plain'][0]['note'].startswith('no number: training stopped')
    assert row['paper'] == dict(plain=dict(AP=38.0, AP50=57.9),
                                se=dict(AP=40.4, AP50=61.0))
    assert row['anchor_plain_AP'] == 37.9
    assert (tmp_path / 'table.png').stat().st_size > 10_000
