"""tools/analysis/compare.py: plain and SE twins over seeds, resumable.
The whole tool, which starts several trainings and tests, runs with the
other multi-run rehearsals in `make test-launchers` (marker ``launchers``);
its refusals and protocols here."""
import json

import pytest
from mmengine.config import Config

from .utils import (FASTER, FASTER_PLAIN, REPO, load_tool, tiny_config,
                    tool_in_process)


def compare(arguments: tuple, cwd) -> str:
    result = tool_in_process('analysis/compare.py', *arguments, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.launchers
def test_compare_trains_tests_tabulates_and_resumes(toy_root, tmp_path):
    configs = [tiny_config(tmp_path, toy_root, base, epochs=2)
               for base in (FASTER_PLAIN, FASTER)]
    work = tmp_path / 'compare'
    # compare.py runs here; the trainings and tests it starts are
    # processes of their own, as they are for a user.
    arguments = ('--configs', *configs, '--seeds', '1', '--work-dir', work)
    first = compare(arguments, tmp_path)
    plain_run = work / configs[0].stem / 'seed_0'
    se_run = work / configs[1].stem / 'seed_0'
    assert f'{configs[0].stem} seed 0: trained, tested' in first
    assert f'{configs[1].stem} seed 0: trained, tested' in first
    for run_dir in (plain_run, se_run):
        record = json.loads((run_dir / 'test_metrics.json').read_text())
        # The seed reached training and testing alike.
        log = next(run_dir.glob('*/*.log')).read_text()
        assert '"seed": 0' in log or 'seed: 0' in log
        assert record['checkpoint'] == str(run_dir / 'epoch_2.pth')
    # Both backbones in one table, with their measured numbers copied.
    plain = json.loads((plain_run / 'test_metrics.json').read_text())
    se = json.loads((se_run / 'test_metrics.json').read_text())
    table = (work / 'table.md').read_text()
    assert table.startswith(
        '### faster-rcnn_{backbone}_fpn-lean_8e_toy-shapes-tiny\n')
    ap = f"| ResNet-18 | AP | {100 * plain['metrics']['coco/bbox_mAP']:.1f}"
    assert ap + f" | {100 * se['metrics']['coco/bbox_mAP']:.1f} |" in table
    assert '| ResNet-18 | runs | 1 | 1 |' in table
    growth = se['model']['parameters'] / plain['model']['parameters'] - 1
    assert f'| {100 * growth:+.1f} % |' in table
    # Seconds per iteration: the logged iteration times of the training
    # (its first logged entry, the start-up, left out), not a timing bound.
    seconds = {}
    for name, run_dir in (('plain', plain_run), ('se', se_run)):
        (log, ) = run_dir.glob('*/vis_data/scalars.json')
        times = [entry['time'] for entry in map(
            json.loads, log.read_text().splitlines()) if 'loss' in entry]
        seconds[name] = sum(times[1:]) / len(times[1:])
    assert (f"| ResNet-18 | training s/iter | {seconds['plain']:.3f} | "
            f"{seconds['se']:.3f} |") in table
    assert (work / 'curves.png').stat().st_size > 10_000

    # Interrupt the SE run after its first epoch: its final checkpoint and
    # metrics are gone, last_checkpoint names epoch 1. A second call keeps
    # the finished plain run and resumes the SE run.
    (se_run / 'epoch_2.pth').unlink()
    (se_run / 'test_metrics.json').unlink()
    (se_run / 'last_checkpoint').write_text(str(se_run / 'epoch_1.pth'))
    second = compare(arguments, tmp_path)
    assert f'{configs[0].stem} seed 0: finished earlier, kept' in second
    assert f'{configs[1].stem} seed 0: resumed, trained, tested' in second
    log = (se_run / 'compare.log').read_text()
    assert 'resumed epoch: 1' in log
    assert json.loads((plain_run / 'test_metrics.json').read_text()) == plain


@pytest.mark.parametrize('args, message', [
    (['--seeds', '0'], '--seeds 0: give at least 1 seed'),
    (['--configs', 'configs/toy/nope.py'],
     'config configs/toy/nope.py does not exist'),
])
def test_compare_refuses_bad_arguments_before_training(tmp_path, args,
                                                       message):
    result = tool_in_process('analysis/compare.py', '--work-dir',
                             tmp_path / 'work', *args, cwd=REPO)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / 'work').exists()


def test_each_protocol_is_a_plain_and_an_se_twin():
    compare = load_tool(REPO / 'tools' / 'analysis' / 'compare.py')
    assert sorted(compare.PROTOCOLS) == ['toy', 'trees']
    for plain, se in compare.PROTOCOLS.values():
        assert Config.fromfile(plain).model.backbone.type == 'ResNet'
        assert Config.fromfile(se).model.backbone.type == 'SEResNet'
