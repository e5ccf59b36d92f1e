"""tools/analysis/stop_agreement_cost.py: 2 gloo processes time the stop
agreement beside a training step and print their ratio."""
import re

import pytest

from .utils import free_port, python_tool, run, tool_in_process


@pytest.mark.slow
def test_prints_the_agreement_beside_a_training_step(tmp_path):
    result = run(python_tool('analysis/stop_agreement_cost.py', '--steps', 2,
                             '--calls', 5, '--shape', 1, 3, 64, 64,
                             '--port', free_port()), tmp_path)
    step = re.search(r'median ([0-9.]+) ms over 2 steps', result.stdout)
    agreement = re.search(r'median ([0-9.]+) us over 2 x 5 calls',
                          result.stdout)
    ratio = re.search(r'agreement / step: ([0-9.e+-]+)', result.stdout)
    assert step and agreement and ratio, result.stdout
    assert float(ratio.group(1)) == pytest.approx(
        float(agreement.group(1)) * 1e-3 / float(step.group(1)), rel=0.02)


def test_bad_counts_are_refused(tmp_path):
    result = tool_in_process('analysis/stop_agreement_cost.py', '--steps', 0,
                             cwd=tmp_path)
    assert result.returncode == 2
    assert '--steps, --calls and --shape must be positive' in result.stderr
