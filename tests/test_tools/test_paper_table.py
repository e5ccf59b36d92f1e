"""tools/analysis/paper_table.py and tools/analysis/diff_configs.py."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]
TABLE = REPO / 'tools' / 'analysis' / 'paper_table.py'


def write_run(folder, config, backbone, depth, ap, ap50):
    folder.mkdir()
    (folder / 'test_metrics.json').write_text(
        json.dumps(
            dict(
                config=f'configs/senet/{config}.py',
                checkpoint='epoch_24.pth',
                model=dict(detector='FasterRCNN', backbone=backbone,
                           depth=depth, groups=None, neck='FPN',
                           shared_head=None),
                metrics={'coco/bbox_mAP': ap, 'coco/bbox_mAP_50': ap50})))
    return folder


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
    protocol = 'fpn_tpami-table7-2x_coco'
    plain = write_run(tmp_path / 'plain', f'faster-rcnn_r50-caffe_{protocol}',
                      'ResNet', 50, 0.381, 0.583)
    se = write_run(tmp_path / 'se', f'faster-rcnn_se-r50-caffe_{protocol}',
                   'SEResNet', 50, 0.402, 0.607)
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


def test_missing_metrics_file_is_named(tmp_path):
    result = run_table(tmp_path)
    assert result.returncode == 1
    assert f'{tmp_path}/test_metrics.json does not exist' in result.stderr
    assert 'tools/test.py CONFIG CHECKPOINT --work-dir' in result.stderr


def test_diff_configs_shows_the_backbone_swap():
    folder = REPO / 'configs' / 'senet'
    result = subprocess.run([
        sys.executable,
        str(REPO / 'tools' / 'analysis' / 'diff_configs.py'),
        str(folder / 'faster-rcnn_r50_fpn_2x_coco.py'),
        str(folder / 'faster-rcnn_se-r50_fpn_2x_coco.py')
    ], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "model.backbone.type: 'ResNet' -> 'SEResNet'" in result.stdout
    assert 'train_cfg' not in result.stdout
