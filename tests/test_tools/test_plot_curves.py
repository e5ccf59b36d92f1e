"""tools/analysis/plot_curves.py and the TensorBoard option of training."""
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from .utils import TOOLS, load_tool, python_tool, run

PLOT = TOOLS / 'analysis' / 'plot_curves.py'


def logged(work_dir: Path) -> list:
    (log, ) = work_dir.glob('*/vis_data/scalars.json')
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.slow
def test_curves_are_the_logged_values(trained):
    _, checkpoint = trained
    work_dir = checkpoint.parent
    entries = logged(work_dir)
    curves = load_tool(PLOT).read_curves(str(work_dir), 'coco/bbox_mAP')
    train = [e for e in entries if 'loss' in e]
    assert curves['loss'] == ([float(e['step']) for e in train],
                              [e['loss'] for e in train])
    # One evaluation, after epoch 1.
    (val, ) = [e for e in entries if 'coco/bbox_mAP' in e]
    assert curves['coco/bbox_mAP'] == ([1.0], [val['coco/bbox_mAP']])


def test_a_resumed_run_is_joined_in_time_order(tmp_path):
    """The log of a resumed run replaces the steps it trained again."""
    for stamp, rows in (('20260101_000000', [(1, 3.0), (2, 2.0), (3, 9.9)]),
                        ('20260101_010000', [(3, 1.5), (4, 1.0)])):
        folder = tmp_path / stamp / 'vis_data'
        folder.mkdir(parents=True)
        (folder / 'scalars.json').write_text(''.join(
            json.dumps(dict(loss=loss, step=step)) + '\n'
            for step, loss in rows))
    curves = load_tool(PLOT).read_curves(str(tmp_path), 'coco/bbox_mAP')
    assert curves['loss'] == ([1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.5, 1.0])
    assert curves['coco/bbox_mAP'] == ([], [])


@pytest.mark.slow
def test_plot_draws_several_runs(trained, tmp_path):
    _, checkpoint = trained
    out = tmp_path / 'curves.png'
    work_dir = checkpoint.parent
    result = run(python_tool('analysis/plot_curves.py', work_dir, work_dir,
                             '--labels', 'SE-ResNet', 'SE-ResNet', '--out',
                             out), tmp_path)
    assert f'wrote {out}' in result.stdout
    picture = matplotlib.image.imread(out)
    # 11 x 4.2 inches at 110 dpi: two panels side by side.
    assert picture.shape[:2] == (462, 1210)


@pytest.mark.parametrize('args, message', [
    (['--labels', 'a', 'b'], '--labels has 2 entries for 1 work dirs'),
    ([], 'holds no training log'),
])
def test_plot_errors_name_the_fix(tmp_path, args, message):
    result = subprocess.run(
        [sys.executable, str(PLOT), str(tmp_path), *args],
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.slow
def test_tensorboard_option_writes_the_logged_scalars(trained):
    """`tools/train.py --tensorboard` (the trained fixture uses it): the
    event file holds the same losses as mmengine's JSON log."""
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    _, checkpoint = trained
    work_dir = checkpoint.parent
    (events, ) = work_dir.glob('*/vis_data/events.out.tfevents.*')
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    assert 'loss' in accumulator.Tags()['scalars']
    train = [e for e in logged(work_dir) if 'loss' in e]
    scalars = accumulator.Scalars('loss')
    assert [s.step for s in scalars] == [e['step'] for e in train]
    assert [s.value for s in scalars] == pytest.approx(
        [e['loss'] for e in train], rel=1e-6)
