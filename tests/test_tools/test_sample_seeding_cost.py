"""tools/analysis/sample_seeding_cost.py: a training dataset loaded plain
and seeded, and the seeding alone, with their ratio."""
import re

import pytest

from .utils import tiny_config, tool_in_process


def test_prints_the_seeding_beside_a_plain_sample(toy_root, tmp_path):
    config = tiny_config(tmp_path, toy_root)
    result = tool_in_process('analysis/sample_seeding_cost.py', config,
                             '--samples', 3, '--rounds', 1, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    plain = re.search(r'plain sample: median ([0-9.]+) ms per sample over '
                      r'1 x 3 samples', result.stdout)
    seeding = re.search(r'seeding alone \(seed \+ fork \+ restore\): median '
                        r'([0-9.]+) us per sample', result.stdout)
    ratio = re.search(r'seeding / plain sample: ([0-9.]+)', result.stdout)
    assert plain and seeding and ratio, result.stdout
    assert 'seeded sample: median ' in result.stdout
    assert float(ratio.group(1)) == pytest.approx(
        float(seeding.group(1)) * 1e-3 / float(plain.group(1)), abs=2e-4)


def test_bad_counts_are_refused(tmp_path):
    result = tool_in_process('analysis/sample_seeding_cost.py', 'any.py',
                             '--rounds', 0, cwd=tmp_path)
    assert result.returncode == 2
    assert '--samples and --rounds must be positive' in result.stderr
