"""StopRequests: a signal becomes a request to stop, once, and the handlers
are put back afterwards."""
import os
import signal

import pytest

from senet_mmdet.engine.signals import (DEFAULT_SIGNALS, StopRequests,
                                        signal_numbers)


def test_a_signal_is_recorded_not_acted_on():
    requests = StopRequests(DEFAULT_SIGNALS)
    before = signal.getsignal(signal.SIGUSR2)
    requests.install()
    try:
        assert requests.agreed() is None
        os.kill(os.getpid(), signal.SIGUSR2)
        # A second signal (during the save the first one started) changes
        # nothing: the first one is what stops the run.
        os.kill(os.getpid(), signal.SIGTERM)
        assert requests.agreed() == 'SIGUSR2'
    finally:
        requests.uninstall()
    assert signal.getsignal(signal.SIGUSR2) == before


def test_no_signals_installs_nothing():
    requests = StopRequests(())
    before = signal.getsignal(signal.SIGTERM)
    requests.install()
    assert signal.getsignal(signal.SIGTERM) == before
    assert requests.agreed() is None


@pytest.mark.parametrize('names', [('SIGTERM', 'SIGTREM'), ('SIGKILL', )])
def test_unknown_or_uncatchable_signals_are_named(names):
    with pytest.raises(ValueError) as error:
        signal_numbers(names)
    assert str(error.value).startswith(f'save_on_signals={names!r}: '
                                       f'{names[-1]} is not a signal')
    assert 'SIGTERM, SIGUSR1, SIGUSR2 (or () for none)' in str(error.value)
