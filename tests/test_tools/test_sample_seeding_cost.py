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
    numbers = re.search(
        r'plain sample: median ([0-9.]+) ms per sample over 1 x 3 samples\n'
        r'seeded sample \(main process\): median [0-9.]+ ms per sample\n'
        r'seeding in the main process \(seed, fork, restore\): median '
        r'([0-9.]+) us per sample, ([0-9.]+) of a sample\n'
        r'seeding in a worker \(seed\): median ([0-9.]+) us per sample, '
        r'([0-9.]+) of a sample', result.stdout)
    assert numbers, result.stdout
    plain, fork, fork_ratio, seed, seed_ratio = map(float, numbers.groups())
    assert fork_ratio == pytest.approx(fork * 1e-3 / plain, abs=2e-4)
    assert seed_ratio == pytest.approx(seed * 1e-3 / plain, abs=2e-4)


def test_bad_counts_are_refused(tmp_path):
    result = tool_in_process('analysis/sample_seeding_cost.py', 'any.py',
                             '--rounds', 0, cwd=tmp_path)
    assert result.returncode == 2
    assert '--samples and --rounds must be positive' in result.stderr
