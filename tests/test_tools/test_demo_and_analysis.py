"""tools/demo.py and tools/analysis/count_params.py."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]


def run_script(*args):
    result = subprocess.run([sys.executable, *map(str, args)],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_count_params_table_matches_official_counts():
    rows = {
        line.split(' | ')[0].lstrip('| '): line.split(' | ')
        for line in run_script(REPO / 'tools' / 'analysis' /
                               'count_params.py').splitlines()[2:]
    }
    assert len(rows) == 8
    for name in ('SE-ResNet-50', 'SE-ResNet-101', 'SE-ResNet-152',
                 'SE-ResNeXt-50 (32x4d)', 'SE-ResNeXt-101 (32x4d)',
                 'SENet-154'):
        # ours with the FC added back == the official count
        assert rows[name][4] == rows[name][5].rstrip(' |'), rows[name]
    assert rows['SE-ResNet-50'][1] == '26.039M'
    assert rows['SE-ResNet-18'][5].startswith('none released')


def test_demo_runs_inference_with_the_flagship():
    out = run_script(REPO / 'tools' / 'demo.py', '--size', '240', '320')
    assert 'backbone SEResNet-50, input 240x320 resized to 800x1067' in out
    assert 'FPN levels: (256, 200, 267), (256, 100, 134)' in out
