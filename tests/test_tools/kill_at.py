"""Run a tool and interrupt it at chosen moments: before the Nth training
iteration, before the Nth evaluation batch, or halfway through writing the
Nth checkpoint (half of its bytes reach the disk first).

    python kill_at.py MOMENT:N[:ACTION] [MOMENT:N[:ACTION] ...] TOOL [ARGS ...]

MOMENT is iteration, evaluation or save. ACTION is what happens there:
SIGKILL (the default: a power cut or the out-of-memory killer), another
signal's name (sent to the process, which goes on: a cluster's time limit
or preemption), or ENOSPC (the save fails as on a full disk).
"""
import errno
import importlib
import os
import runpy
import signal
import sys

# moment -> (module, class, method) whose Nth call is the moment.
MOMENTS = {
    'iteration': ('mmengine.runner.loops', 'EpochBasedTrainLoop', 'run_iter'),
    'evaluation': ('mmengine.runner.loops', 'ValLoop', 'run_iter'),
    'save': ('mmengine.fileio.backends.local_backend', 'LocalBackend', 'put'),
}


def interrupting(moment: str, actions: dict, original):
    """``original`` with ``actions[n]`` done before its nth call."""
    calls = 0

    def call(self, *args, **kwargs):
        nonlocal calls
        if moment == 'save':
            content, path = args[0], str(args[1])
            # Only checkpoints count: logs and configs are written too.
            if '.pth' not in path:
                return original(self, *args, **kwargs)
        calls += 1
        action = actions.get(calls)
        if action is None:
            return original(self, *args, **kwargs)
        if moment == 'save' and action in ('SIGKILL', 'ENOSPC'):
            with open(path, 'wb') as file:
                file.write(content[:len(content) // 2])
        if action == 'ENOSPC':
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        os.kill(os.getpid(), signal.Signals[action])
        return original(self, *args, **kwargs)

    return call


def main() -> None:
    specs = []
    arguments = sys.argv[1:]
    while ':' in arguments[0]:
        moment, nth, *action = arguments.pop(0).split(':')
        specs.append((moment, int(nth), action[0] if action else 'SIGKILL'))
    tool, *args = arguments
    for moment in {moment for moment, _, _ in specs}:
        module, owner_name, method = MOMENTS[moment]
        owner = getattr(importlib.import_module(module), owner_name)
        actions = {nth: action for m, nth, action in specs if m == moment}
        setattr(owner, method,
                interrupting(moment, actions, getattr(owner, method)))
    sys.argv = [tool, *args]
    runpy.run_path(tool, run_name='__main__')


if __name__ == '__main__':
    main()
