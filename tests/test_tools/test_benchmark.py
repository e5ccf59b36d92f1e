"""tools/analysis/benchmark.py runs end to end and writes its report.

Timings are not asserted (they belong to the benchmark's printed ratios);
the numbers that do not depend on the machine are.
"""
import json
import subprocess
import sys
import time

import pytest
import torch
from mmdet.models.backbones import ResNet

from senet_mmdet.models import SEResNet
from senet_mmdet.models.layers import SqueezeExcitation
from .utils import REPO, TOOLS, load_tool

BENCHMARK = TOOLS / 'analysis' / 'benchmark.py'


def test_rounds_go_on_until_the_baseline_has_run_min_seconds():
    benchmark = load_tool(BENCHMARK)
    calls = []
    steps = {
        'resnet50': lambda: time.sleep(0.01),
        'other': lambda: calls.append(None),
    }
    seconds = benchmark.time_rounds(steps, rounds=2, min_seconds=0.1)
    baseline = seconds['resnet50']
    # Every step runs in every round, after one warm-up call.
    assert len(seconds['other']) == len(baseline) == len(calls) - 1
    # Past 2 rounds, and stopped at the round that reached 0.1 s.
    assert len(baseline) > 2
    assert sum(baseline) >= 0.1 > sum(baseline[:-1])
    # Without a time floor: exactly the rounds asked for.
    seconds = benchmark.time_rounds(steps, rounds=2)
    assert len(seconds['resnet50']) == len(seconds['other']) == 2


@pytest.mark.parametrize('squeeze', [False, True])
def test_floors_run_every_se_excitation_and_keep_the_outputs(
        monkeypatch, squeeze):
    benchmark = load_tool(BENCHMARK)
    baseline = ResNet(depth=50)
    baseline.eval()
    floor = benchmark.with_unused_se_work(baseline, squeeze)
    floor.eval()
    # SE-ResNet-50's weights: ResNet-50's and one SE module per bottleneck.
    se_resnet = SEResNet(depth=50)
    assert (sum(p.numel() for p in floor.parameters()) == sum(
        p.numel() for p in se_resnet.parameters()))
    descriptors = []
    excite = SqueezeExcitation.excite

    def recording_excite(se, x):
        descriptors.append(x)
        return excite(se, x)

    monkeypatch.setattr(SqueezeExcitation, 'excite', recording_excite)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = baseline(x)
        outs = floor(x)
    widths = [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
    assert [d.shape for d in descriptors] == [(2, width, 1, 1)
                                               for width in widths]
    # The squeeze gives the means of the norm's output (not zero with
    # torch's default weights); the excitation alone gets zeros.
    assert all(bool(d.any()) == squeeze for d in descriptors)
    for out, plain in zip(outs, expected):
        assert torch.equal(out, plain)


@pytest.mark.parametrize('args, message', [
    (['--rounds', '0'], '--rounds 0: give at least 1 round'),
    (['--min-seconds', '-1'], '--min-seconds -1.0: give 0 or more seconds'),
])
def test_benchmark_refuses_bad_arguments(monkeypatch, capsys, args,
                                         message):
    benchmark = load_tool(BENCHMARK)
    monkeypatch.setattr(sys, 'argv', ['benchmark.py', *args])
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main()
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_benchmark_quick_run_writes_every_section(tmp_path):
    out = tmp_path / 'bench.json'
    result = subprocess.run([
        sys.executable,
        str(BENCHMARK), '--quick', '--compile-backend', 'eager', '--out',
        str(out)
    ],
                            cwd=REPO,
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert set(report) == {
        'machine', 'rounds', 'min_seconds', 'complexity', 'inference',
        'compiled_inference', 'training_step', 'training_step_live_bn',
        'faster_rcnn'
    }
    complexity = report['complexity']
    assert complexity['se_resnet50']['params_m'] == 26.039
    assert complexity['resnet50']['params_m'] == 23.508
    # Caffe-style strides (the official models) give the paper's
    # multiply-adds to 0.5 %; SE adds its FCs (2.5M) and its pooling (5.5M
    # inputs), the analysis leaving the channel multiply out.
    for name in ('resnet50_caffe', 'se_resnet50_caffe'):
        row = complexity[name]
        assert abs(row['gflops'] / row['paper_gflops'] - 1) < 0.005, row
    added = (complexity['se_resnet50_caffe']['gflops'] -
             complexity['resnet50_caffe']['gflops'])
    assert abs(added - 0.008) < 0.0015
    # Batch 1 and 8 at 224, 1 at 800x1216 (a quarter of each side here),
    # NCHW and channels_last.
    rows = {'1x3x56x56', '2x3x56x56', '1x3x200x304'}
    rows = {
        f'{shape}_{layout}'
        for shape in rows
        for layout in ('nchw', 'channels_last')
    }
    assert set(report['inference']) == rows
    # --quick compiles the first shape only.
    assert set(report['compiled_inference']) == {
        '1x3x56x56_nchw', '1x3x56x56_channels_last'
    }
    models = {
        'resnet50', 'resnet50_copy', 'se_resnet50', 'straightforward_se',
        'mmpretrain_se_resnet50'
    }
    trainings = [report['training_step'], report['training_step_live_bn']]
    for rows in report['inference'].values():
        assert set(rows) == models | {
            'resnet50_plus_se_fcs', 'resnet50_plus_se_gates'
        }
    for rows in trainings:
        assert set(rows) == models
    for rows in report['compiled_inference'].values():
        assert set(rows) == models - {'mmpretrain_se_resnet50'}
    faster_rcnn = report['faster_rcnn']
    assert set(faster_rcnn) == {'train_iteration', 'inference_fixed_proposals'}
    for rows in faster_rcnn.values():
        assert set(rows) == {
            'resnet50', 'resnet50_copy', 'se_resnet50', 'straightforward_se'
        }
    for rows in [
            *report['inference'].values(),
            *report['compiled_inference'].values(), *trainings,
            *faster_rcnn.values()
    ]:
        assert rows['resnet50']['time_ratio'] == 1.0
        assert rows['resnet50']['min_ratio'] == 1.0
        # --quick: one round, no warm-up, whatever the time.
        assert {row['rounds'] for row in rows.values()} == {1}
    # The fused step keeps ResNet-50's feature maps plus per-channel
    # vectors; the straightforward block also keeps each SE input.
    for rows in trainings:
        assert 'peak_mib' in rows['se_resnet50']
        assert rows['resnet50']['saved_ratio'] == 1.0
        assert rows['resnet50_copy']['saved_ratio'] == 1.0
        assert rows['se_resnet50']['saved_ratio'] < 1.05
        assert rows['straightforward_se']['saved_ratio'] > 1.1


def test_every_se_row_is_a_twin_of_its_plain_row():
    """Each ratio divides an SE backbone's time by a plain one that differs
    in SE only (style, stem pool, norm and input alike)."""
    from senet_mmdet.apis.config_diff import beyond_se
    benchmark = load_tool(BENCHMARK)

    def config(model_class, arguments):
        return dict(model=dict(backbone=dict(type=model_class.__name__,
                                             **arguments)))

    baseline = config(*benchmark.BACKBONES[benchmark.BASELINE])
    for name, row in benchmark.BACKBONES.items():
        assert beyond_se(baseline, config(*row)) == [], name
    complexity = benchmark.COMPLEXITY
    for plain, se in [('resnet50', 'se_resnet50'),
                      ('resnet50_caffe', 'se_resnet50_caffe')]:
        assert beyond_se(config(*complexity[plain]),
                         config(*complexity[se])) == []
    # A pair that differs in style is caught.
    assert beyond_se(config(*complexity['resnet50']),
                     config(*complexity['se_resnet50_caffe'])) == [
                         ('model.backbone.style', '<absent>', 'caffe')]
    rows = benchmark.FASTER_RCNN_BACKBONES
    for name, backbone in rows.items():
        assert beyond_se(dict(model=dict(backbone=rows[benchmark.BASELINE])),
                         dict(model=dict(backbone=backbone))) == [], name
