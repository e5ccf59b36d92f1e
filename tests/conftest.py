"""Test selection shared by every test folder."""
import pytest

# The largest networks, SENet-154 and the depth-201 SE-ResNeXt, take
# seconds per test on a CPU: `make test-quick` leaves their tests out with
# the other slow ones (`make test` runs them).
LARGEST = ('senet154', 'senet-154', 'aa201d')


def pytest_collection_modifyitems(items):
    for item in items:
        if any(name in item.nodeid.lower() for name in LARGEST):
            item.add_marker(pytest.mark.slow)
