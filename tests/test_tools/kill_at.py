"""Run a tool and kill its process with SIGKILL at a chosen moment, as a
power cut or the out-of-memory killer would: before the Nth training
iteration, before the Nth evaluation batch, or halfway through writing the
Nth checkpoint (half of its bytes reach the disk first).

    python kill_at.py {iteration,evaluation,save} N TOOL [ARGS ...]
"""
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


def killing(moment: str, nth: int, original):
    calls = 0

    def call(self, *args, **kwargs):
        nonlocal calls
        if moment == 'save':
            content, path = args[0], str(args[1])
            # Only checkpoints count: logs and configs are written too.
            if '.pth' not in path:
                return original(self, *args, **kwargs)
        calls += 1
        if calls == nth:
            if moment == 'save':
                with open(path, 'wb') as file:
                    file.write(content[:len(content) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, *args, **kwargs)

    return call


def main() -> None:
    moment, nth, tool, *args = sys.argv[1:]
    module, owner_name, method = MOMENTS[moment]
    owner = getattr(importlib.import_module(module), owner_name)
    setattr(owner, method, killing(moment, int(nth), getattr(owner, method)))
    sys.argv = [tool, *args]
    runpy.run_path(tool, run_name='__main__')


if __name__ == '__main__':
    main()
