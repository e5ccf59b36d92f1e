"""tools/install/mmcv_wheel.py: the pin it reads, the Python 3.13 fix of
mmcv's setup.py, the package index it reads (a local HTTP server standing in
for PyPI) and the wheel cache. The compile itself runs in `make install`."""
import hashlib
import http.server
import importlib.util
import json
import os
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'mmcv_wheel', REPO / 'tools' / 'install' / 'mmcv_wheel.py')
mmcv_wheel = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mmcv_wheel)

# get_version() as mmcv 2.1.0's setup.py has it.
SETUP_PY = f'''import os


def get_version():
    version_file = 'mmcv/version.py'
    with open(version_file, encoding='utf-8') as f:
{mmcv_wheel.GET_VERSION_BROKEN}

setup_version = get_version()
'''


def test_the_pin_is_read_from_requirements():
    assert mmcv_wheel.pinned_version() == '2.1.0'


def test_a_requirements_file_without_the_pin_is_named(tmp_path):
    requirement = tmp_path / 'mmcv.txt'
    requirement.write_text('# mmcv, compiled\nmmcv>=2.0\n')
    with pytest.raises(mmcv_wheel.InstallError, match='mmcv==<version>'):
        mmcv_wheel.pinned_version(requirement)


def run_setup(source: Path) -> dict:
    namespace = {}
    code = (source / 'setup.py').read_text()
    cwd = Path.cwd()
    try:
        os.chdir(source)
        exec(compile(code, 'setup.py', 'exec'), namespace)
    finally:
        os.chdir(cwd)
    return namespace


@pytest.fixture
def source(tmp_path):
    (tmp_path / 'mmcv').mkdir()
    (tmp_path / 'mmcv' / 'version.py').write_text("__version__ = '2.1.0'\n")
    (tmp_path / 'setup.py').write_text(SETUP_PY)
    return tmp_path


@pytest.mark.skipif(sys.version_info < (3, 13),
                    reason='PEP 667: exec() stops filling locals() in 3.13')
def test_unfixed_get_version_fails_on_python_3_13(source):
    with pytest.raises(KeyError, match='__version__'):
        run_setup(source)


def test_fixed_get_version_reads_the_version(source):
    mmcv_wheel.fix_get_version(source)
    assert run_setup(source)['setup_version'] == '2.1.0'
    assert "locals()['__version__']" not in (source / 'setup.py').read_text()


def test_a_setup_py_the_fix_does_not_fit_is_named(source):
    mmcv_wheel.fix_get_version(source)
    with pytest.raises(mmcv_wheel.InstallError,
                       match='no longer has the get_version'):
        mmcv_wheel.fix_get_version(source)


ARCHIVE = b'the bytes of mmcv-2.1.0.tar.gz'
SHA256 = hashlib.sha256(ARCHIVE).hexdigest()


@pytest.fixture
def index():
    """A package index on localhost: `/json/mmcv/` answers in PEP 691's JSON
    form, `/html/mmcv/` in PEP 503's HTML; `/files/` holds the archive."""
    pages = {}

    class Handler(http.server.BaseHTTPRequestHandler):

        def do_GET(self):
            body, kind = pages.get(self.path, (None, None))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header('Content-Type', kind)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    root = f'http://127.0.0.1:{server.server_port}'
    archive_url = f'{root}/files/mmcv-2.1.0.tar.gz'
    pages['/files/mmcv-2.1.0.tar.gz'] = (ARCHIVE, 'application/gzip')
    pages['/json/mmcv/'] = (json.dumps({
        'files': [{
            'filename': 'mmcv-2.0.0.tar.gz',
            'url': f'{root}/files/mmcv-2.0.0.tar.gz',
            'hashes': {'sha256': '0' * 64},
        }, {
            'filename': 'mmcv-2.1.0.tar.gz',
            'url': archive_url,
            'hashes': {'sha256': SHA256},
        }]
    }).encode(), 'application/vnd.pypi.simple.v1+json')
    pages['/html/mmcv/'] = (
        '<html><body>\n'
        '<a href="../../files/mmcv-2.0.0.tar.gz#sha256=00">mmcv-2.0.0.tar.gz'
        '</a>\n'
        f'<a href="../../files/mmcv-2.1.0.tar.gz#sha256={SHA256}" '
        'data-requires-python="&gt;=3.7">mmcv-2.1.0.tar.gz</a>\n'
        '<a href="../../files/mmcv-2.2.0.tar.gz">mmcv-2.2.0.tar.gz</a>\n'
        '</body></html>\n'.encode(), 'text/html')
    yield root, archive_url, pages
    server.shutdown()


@pytest.mark.parametrize('form', ['json', 'html'])
def test_the_archive_and_its_sha256_come_from_the_index(index, form):
    root, archive_url, _ = index
    assert mmcv_wheel.sdist_link('2.1.0', f'{root}/{form}') == (archive_url,
                                                               SHA256)


def test_a_release_the_index_lacks_is_named(index):
    root, _, _ = index
    with pytest.raises(mmcv_wheel.InstallError,
                       match='lists no mmcv-9.9.9.tar.gz'):
        mmcv_wheel.sdist_link('9.9.9', f'{root}/json')


def test_a_link_without_a_sha256_is_refused(index):
    root, _, _ = index
    with pytest.raises(mmcv_wheel.InstallError, match='gives no sha256'):
        mmcv_wheel.sdist_link('2.2.0', f'{root}/html')


def test_the_download_is_checked_against_the_sha256(index, tmp_path):
    _, archive_url, _ = index
    archive = mmcv_wheel.download(archive_url, SHA256, tmp_path)
    assert archive.read_bytes() == ARCHIVE
    with pytest.raises(mmcv_wheel.InstallError,
                       match='corrupt or altered download'):
        mmcv_wheel.download(archive_url, '0' * 64, tmp_path)


def test_builds_are_kept_apart_by_python_torch_and_ops(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.delenv('FORCE_CUDA', raising=False)
    python = f'py{sys.version_info.major}.{sys.version_info.minor}'
    assert mmcv_wheel.build_key() == f'{python}-torch{torch.__version__}-cpu'
    # mmcv's setup.py compiles its CUDA ops under FORCE_CUDA=1 (a machine
    # without a GPU building for one): another wheel, another folder.
    monkeypatch.setenv('FORCE_CUDA', '1')
    assert mmcv_wheel.build_key().endswith('-cuda')


def test_a_cached_wheel_is_installed_without_compiling(monkeypatch, tmp_path):
    folder = tmp_path / mmcv_wheel.build_key()
    folder.mkdir()
    wheel = folder / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'
    wheel.touch()
    (folder / 'mmcv-2.0.0-cp311-cp311-linux_x86_64.whl').touch()
    commands = []

    def compile_mmcv(*args):
        raise AssertionError('compiled although the cache has the wheel')

    monkeypatch.setattr(mmcv_wheel, 'build', compile_mmcv)
    monkeypatch.setattr(mmcv_wheel.subprocess, 'run',
                        lambda command, **kwargs: commands.append(command))
    mmcv_wheel.main(['--cache', str(tmp_path)])
    assert commands and all(command[-1] == str(wheel)
                            for command in commands)
    assert all(command[:4] == [sys.executable, '-m', 'pip', 'install']
               for command in commands)


def test_without_torch_the_error_says_to_install_it_first(monkeypatch):
    monkeypatch.setitem(sys.modules, 'torch', None)
    with pytest.raises(mmcv_wheel.InstallError,
                       match='install torch first'):
        mmcv_wheel.build_key()
