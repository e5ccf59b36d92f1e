"""Test selection and order shared by every test folder."""
import pytest

# The largest networks, SENet-154 and the depth-201 SE-ResNeXt, take
# seconds per test on a CPU: `make test-quick` leaves their tests out with
# the other slow ones (`make test` runs them).
LARGEST = ('senet154', 'senet-154', 'aa201d')

# The files that take minutes (subprocess trainings), started first:
# `make test` hands each of its two processes one file at a time, and a
# long file begun last would leave one process working alone at the end.
LONGEST_FIRST = (
    'tests/test_tools/test_preemption.py',
    'tests/test_tools/test_mmdeploy.py',
    'tests/test_tools/test_reliability.py',
    'tests/test_tools/test_compare.py',
    'tests/test_tools/test_benchmark.py',
    'tests/test_configs/test_configs.py',
    'tests/test_tools/test_checkpoint_safety.py',
    'tests/test_tools/test_pipeline.py',
    # Runs every tool's --help in a subprocess: minutes, not seconds.
    'tests/test_docs.py',
)


def _start_rank(item) -> int:
    path = item.nodeid.split('::')[0]
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(
        LONGEST_FIRST)


def pytest_collection_modifyitems(items):
    for item in items:
        if any(name in item.nodeid.lower() for name in LARGEST):
            item.add_marker(pytest.mark.slow)
    # A stable sort: every other file keeps its place.
    items.sort(key=_start_rank)
