"""tools/install/python.sh and the Makefile's use of it, with stand-in
interpreters: scripts that answer the three questions the script asks a
Python (its version, its path, `-m venv` / `-m pip`) as a given version
would, so that no real interpreter on this machine takes part."""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'install' / 'python.sh'

STAND_IN = '''#!/bin/bash
# A stand-in for Python {version}.
PATH=/usr/bin:/bin
case "$1" in
    -c)
        case "$2" in
            *version_info*) echo {version} ;;
            *executable*) echo "$0" ;;
        esac ;;
    -m)
        case "$2" in
            venv)
                dir=${{@: -1}}
                rm -rf "$dir"
                mkdir -p "$dir/bin"
                cp "$0" "$dir/bin/python"
                echo "{version}" >> "$(dirname "$0")/created" ;;
            pip) echo "pip 24.0" ;;
        esac ;;
esac
'''

# What a pyenv shim of a version pyenv has not selected does.
UNSELECTED_SHIM = '''#!/bin/bash
echo "pyenv: $(basename "$0"): command not found" >&2
exit 127
'''


def interpreter(folder: Path, name: str, version: str = None) -> Path:
    """A stand-in named `name` for Python `version` (None: one that does
    not run, as an unselected pyenv shim)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(
        STAND_IN.format(version=version) if version else UNSELECTED_SHIM)
    path.chmod(0o755)
    return path


def run(*args, path: Path, python: str = None, cwd: Path = None):
    env = {'PATH': str(path)}
    if python:
        env['PYTHON'] = python
    return subprocess.run(['/bin/bash', str(SCRIPT), *args],
                          env=env,
                          cwd=cwd,
                          capture_output=True,
                          text=True)


@pytest.fixture
def bin_dir(tmp_path):
    """python3.13 an unselected shim, 3.12 and 3.10 present, python3 a
    3.9: the newest supported one that runs is 3.12."""
    folder = tmp_path / 'bin'
    interpreter(folder, 'python3.13')
    interpreter(folder, 'python3.12', '3.12')
    interpreter(folder, 'python3.10', '3.10')
    interpreter(folder, 'python3', '3.9')
    return folder


def test_pick_takes_the_newest_supported_python_that_runs(bin_dir):
    result = run('pick', '3.10', '3.13', path=bin_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bin_dir / 'python3.12')


def test_pick_takes_python3_when_no_versioned_name_exists(tmp_path):
    folder = tmp_path / 'bin'
    interpreter(folder, 'python3', '3.11')
    result = run('pick', '3.10', '3.13', path=folder)
    assert result.stdout.strip() == str(folder / 'python3')


def test_pick_refuses_when_only_unsupported_pythons_exist(tmp_path):
    folder = tmp_path / 'bin'
    interpreter(folder, 'python3.13')
    interpreter(folder, 'python3.9', '3.9')
    interpreter(folder, 'python3', '3.9')
    result = run('pick', '3.10', '3.13', path=folder)
    assert result.returncode == 1
    assert result.stdout == ''
    message = result.stderr
    assert 'needs Python 3.10-3.13' in message
    assert 'python3.13 (does not run)' in message
    assert 'python3 (3.9)' in message
    assert 'PYTHON=' in message


def test_pick_with_nothing_on_path_names_the_names_it_tried(tmp_path):
    (tmp_path / 'bin').mkdir()
    result = run('pick', '3.10', '3.11', path=tmp_path / 'bin')
    assert result.returncode == 1
    assert 'none of python3.11 python3.10 python3' in result.stderr


def test_named_python_is_used_when_supported(bin_dir):
    result = run('pick', '3.10', '3.13', path=bin_dir, python='python3.10')
    assert result.stdout.strip() == str(bin_dir / 'python3.10')


@pytest.mark.parametrize('name, expected', [
    ('python3', 'PYTHON=python3 is Python 3.9; this stack supports Python '
     '3.10-3.13'),
    ('python3.13', 'PYTHON=python3.13 does not run'),
    ('python3.7', 'PYTHON=python3.7 does not run'),
])
def test_named_python_outside_the_range_or_broken_is_refused(
        bin_dir, name, expected):
    result = run('pick', '3.10', '3.13', path=bin_dir, python=name)
    assert result.returncode == 1
    assert expected in result.stderr


def test_venv_is_created_once_and_then_kept(bin_dir, tmp_path):
    venv = tmp_path / 'venv'
    for _ in range(2):
        result = run('venv', str(venv), '3.10', '3.13', path=bin_dir)
        assert result.returncode == 0, result.stderr
    assert (bin_dir / 'created').read_text().split() == ['3.12']


def test_venv_keeps_its_python_when_none_is_named(bin_dir, tmp_path):
    """A venv made by 3.10 stays when 3.12 appears on PATH later."""
    venv = tmp_path / 'venv'
    run('venv', str(venv), '3.10', '3.13', path=bin_dir, python='python3.10')
    (venv / '.installed').touch()
    result = run('venv', str(venv), '3.10', '3.13', path=bin_dir)
    assert result.returncode == 0, result.stderr
    assert (bin_dir / 'created').read_text().split() == ['3.10']


def test_finished_venv_of_another_python_is_refused_and_kept(
        bin_dir, tmp_path):
    venv = tmp_path / 'venv'
    run('venv', str(venv), '3.10', '3.13', path=bin_dir, python='python3.10')
    (venv / '.installed').touch()
    result = run('venv', str(venv), '3.10', '3.13', path=bin_dir,
                 python='python3.12')
    assert result.returncode == 1
    assert ('it was made by Python 3.10 and PYTHON=python3.12 is 3.12'
            in result.stderr)
    assert f'rm -rf {venv}' in result.stderr
    assert 'PYTHON=python3.10' in result.stderr
    assert (venv / '.installed').exists()
    assert (bin_dir / 'created').read_text().split() == ['3.10']


def test_unfinished_venv_of_another_python_is_started_over(
        bin_dir, tmp_path):
    """A failed install (no .installed) is redone with the named Python."""
    venv = tmp_path / 'venv'
    run('venv', str(venv), '3.10', '3.13', path=bin_dir, python='python3.10')
    (venv / 'half-installed').touch()
    result = run('venv', str(venv), '3.10', '3.13', path=bin_dir,
                 python='python3.12')
    assert result.returncode == 0, result.stderr
    assert 'unfinished install' in result.stdout
    assert not (venv / 'half-installed').exists()
    assert (bin_dir / 'created').read_text().split() == ['3.10', '3.12']


def test_unfinished_venv_without_a_working_pip_is_started_over(
        bin_dir, tmp_path):
    """`python -m venv` fails after creating bin/python where ensurepip is
    missing (Debian without python3-venv): the next run must not reuse it."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    (venv / 'bin' / 'python').write_text(
        STAND_IN.format(version='3.12').replace('echo "pip 24.0"', 'exit 1'))
    (venv / 'bin' / 'python').chmod(0o755)
    result = run('venv', str(venv), '3.10', '3.13', path=bin_dir)
    assert result.returncode == 0, result.stderr
    assert 'its pip does not run' in result.stdout
    assert (bin_dir / 'created').read_text().split() == ['3.12']


def test_finished_venv_outside_the_range_is_refused(bin_dir, tmp_path):
    venv = tmp_path / 'venv'
    run('venv', str(venv), '3.10', '3.13', path=bin_dir)
    (venv / '.installed').touch()
    result = run('venv', str(venv), '3.10', '3.11', path=bin_dir)
    assert result.returncode == 1
    assert ('made by Python 3.12; this stack supports 3.10-3.11'
            in result.stderr)


def make(target, *variables, path):
    # Under `make test PYTHON=... VENV=...` (as .ci/run's second stage runs
    # it) MAKEFLAGS would hand the outer make's variables to this one.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'PYTHON', 'VENV')
    }
    return subprocess.run(
        ['make', '--no-print-directory', target, *variables],
        cwd=REPO,
        env=dict(env, PATH=f'{path}:/usr/bin:/bin'),
        capture_output=True,
        text=True)


def test_make_install_stops_before_installing_without_a_supported_python(
        tmp_path):
    folder = tmp_path / 'bin'
    interpreter(folder, 'python3.8', '3.8')
    result = make('install', f'VENV={tmp_path / "venv"}',
                  f'PYTHON={folder / "python3.8"}', path=folder)
    assert result.returncode != 0
    assert 'supports Python 3.10-3.13' in result.stderr
    assert 'pip install' not in result.stdout
    assert not (tmp_path / 'venv').exists()


def test_make_install_refuses_a_finished_venv_of_another_python(
        bin_dir, tmp_path):
    """The venv is up to date by its timestamp, so make would run no
    recipe: `install` itself checks the venv against PYTHON."""
    venv = tmp_path / 'venv'
    run('venv', str(venv), '3.10', '3.13', path=bin_dir, python='python3.10')
    (venv / '.installed').touch()
    result = make('install', f'VENV={venv}', 'PYTHON=python3.12',
                  path=bin_dir)
    assert result.returncode != 0
    assert 'made by Python 3.10 and PYTHON=python3.12' in result.stderr
    assert make('install', f'VENV={venv}', path=bin_dir).returncode == 0


def test_make_install_torch21_takes_a_python_torch_2_1_has_wheels_for(
        bin_dir, tmp_path):
    result = make('install-torch21', f'VENV21={tmp_path / "venv21"}',
                  'PYTHON=python3.12', path=bin_dir)
    assert result.returncode != 0
    assert 'supports Python 3.10-3.11' in result.stderr


def test_make_keeps_python_out_of_the_recipes_environment(tmp_path):
    """`make test PYTHON=python3.13` must not hand PYTHON to the tests:
    tools/dist_*.sh and slurm_*.sh read it to choose their interpreter."""
    result = make('--eval=show-python: ; @echo "[$$PYTHON]"', 'show-python',
                  'PYTHON=python3.13', path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[]'


def test_make_demo_with_an_interpreter_of_the_users_builds_nothing(
        tmp_path):
    """`make demo DEMO_PYTHON=python` runs the demo's three commands with
    that interpreter; plain `make demo` builds and uses the venv."""
    venv = tmp_path / 'venv'
    own = make('-n', 'demo', 'DEMO_PYTHON=python', f'VENV={venv}',
               path=tmp_path)
    assert own.returncode == 0, own.stderr
    commands = [line.split()[:2] for line in own.stdout.splitlines()
                if line.startswith('python ')]
    assert commands == [['python', 'tools/train.py'],
                        ['python', 'tools/test.py'],
                        ['python', 'tools/demo.py']]
    assert 'pip install' not in own.stdout and str(venv) not in own.stdout
    built = make('-n', 'demo', f'VENV={venv}', path=tmp_path)
    assert 'pip install' in built.stdout
    assert f'{venv}/bin/python tools/train.py' in built.stdout
