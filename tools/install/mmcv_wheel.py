"""Install mmcv with its compiled ops into the running Python's environment.

    python tools/install/mmcv_wheel.py [--cache DIR] [--rebuild]

Run it with the environment's own python, after torch. The mmcv release is
the one requirements/mmcv.txt pins. No mmcv 2.1.0 wheel exists for the
torch releases we pin, so it is compiled against the installed torch, once:
the wheel is kept in a cache keyed by what it was compiled against (Python
version, torch version, CUDA or CPU ops), and the next install on this
machine, CI's included, installs it from there in seconds. pip's own wheel
cache is keyed by the source archive only and would hand a build for one
torch to another.

The build does not go through `pip install mmcv==2.1.0`: mmcv 2.1.0's
setup.py reads its version with `exec(...)` followed by
`locals()['__version__']`, and since Python 3.13 (PEP 667) `exec` no longer
fills the snapshot `locals()` returns, so pip fails with
`KeyError: '__version__'` while preparing metadata
(https://github.com/python/cpython/issues/118888). Here the source archive
is fetched from the package index, checked against the index's sha256, that
line is fixed (exec into a namespace of its own, the fix the CPython
maintainers suggest there) and the wheel built with
`pip wheel --no-build-isolation`, on every Python alike.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REQUIREMENT = REPO / 'requirements' / 'mmcv.txt'
DEFAULT_CACHE = Path(
    os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'senet_mmdet'
DEFAULT_INDEX = 'https://pypi.org/simple'
# A file of a PEP 503 (HTML) index page: URL, sha256 fragment, file name.
ANCHOR = r'<a[^>]*href="([^"#]+)(?:#sha256=(\w+))?"[^>]*>([^<]+)</a>'

GET_VERSION_BROKEN = ("        exec(compile(f.read(), version_file, 'exec'))\n"
                      "    return locals()['__version__']\n")
GET_VERSION_FIXED = ('        namespace = {}\n'
                     "        exec(compile(f.read(), version_file, 'exec'),"
                     ' namespace)\n'
                     "    return namespace['__version__']\n")


class InstallError(Exception):
    """A step failed; the message names what and the fix."""


def pinned_version(requirement: Path = REQUIREMENT) -> str:
    """The version of the `mmcv==X` line of `requirement`."""
    for line in requirement.read_text().splitlines():
        match = re.fullmatch(r'\s*mmcv\s*==\s*([\w.]+)\s*(#.*)?', line)
        if match:
            return match.group(1)
    raise InstallError(f'{requirement} has no `mmcv==<version>` line; '
                       'pin the release to build there (e.g. mmcv==2.1.0)')


def build_key() -> str:
    """What a build is compiled against, as a folder name of the cache.

    mmcv's setup.py compiles its CUDA ops when torch sees a GPU or
    FORCE_CUDA=1 is set, else its CPU ops only: the same Python and torch
    give two different wheels on a machine with and without a GPU.
    """
    try:
        import torch
    except ImportError as error:
        raise InstallError(
            f'torch does not import in {sys.executable} ({error}); mmcv is '
            'compiled against the installed torch, so install torch first '
            '(pip install -r requirements/torch.txt)') from error
    ops = ('cuda' if torch.cuda.is_available()
           or os.environ.get('FORCE_CUDA') == '1' else 'cpu')
    return (f'py{sys.version_info.major}.{sys.version_info.minor}'
            f'-torch{torch.__version__}-{ops}')


def index_url() -> str:
    """The package index pip is configured with (PIP_INDEX_URL, pip.conf)."""
    configured = subprocess.run(
        [sys.executable, '-m', 'pip', 'config', 'get', 'global.index-url'],
        capture_output=True, text=True)
    return (os.environ.get('PIP_INDEX_URL')
            or (configured.stdout.strip() if configured.returncode == 0
                else '') or DEFAULT_INDEX).rstrip('/')


def sdist_link(version: str, index: str) -> tuple:
    """The URL and sha256 of mmcv's source archive on the index."""
    filename = f'mmcv-{version}.tar.gz'
    request = urllib.request.Request(
        f'{index}/mmcv/',
        headers={'Accept': 'application/vnd.pypi.simple.v1+json, text/html'})
    with urllib.request.urlopen(request, timeout=120) as response:
        page = response.read().decode()
        if 'json' in response.headers.get('Content-Type', ''):
            links = {
                file['filename']: (file['url'], file['hashes'].get('sha256'))
                for file in json.loads(page)['files']
            }
        else:  # an index that serves the HTML form only (PEP 503)
            links = {
                name: (urllib.parse.urljoin(response.url, url), sha256)
                for url, sha256, name in re.findall(ANCHOR, page)
            }
    url, sha256 = links.get(filename, (None, None))
    if url and sha256:
        return url, sha256
    if url:
        raise InstallError(f'{index}/mmcv/ gives no sha256 for {filename}, '
                           'so the download cannot be checked; use an index '
                           'that does (PIP_INDEX_URL)')
    raise InstallError(f'{index}/mmcv/ lists no {filename}; point '
                       'PIP_INDEX_URL at an index that has it')


def download(url: str, sha256: str, directory: Path) -> Path:
    archive = directory / url.rsplit('/', 1)[1]
    with urllib.request.urlopen(url, timeout=300) as response:
        archive.write_bytes(response.read())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != sha256:
        raise InstallError(f'{archive.name} from {url} has sha256 {digest}, '
                           f'the index says {sha256}: a corrupt or altered '
                           'download; run the install again')
    return archive


def fix_get_version(source: Path) -> None:
    """Apply the Python 3.13 fix to the unpacked source's setup.py."""
    setup = source / 'setup.py'
    text = setup.read_text()
    if GET_VERSION_BROKEN not in text:
        raise InstallError(
            f'{setup} no longer has the get_version() lines this script '
            'fixes for Python 3.13; update GET_VERSION_BROKEN in '
            f'{Path(__file__).name} for this mmcv release')
    setup.write_text(text.replace(GET_VERSION_BROKEN, GET_VERSION_FIXED))


def build(version: str, target: Path) -> Path:
    """Compile mmcv `version` against the installed torch into `target`."""
    with tempfile.TemporaryDirectory(prefix='mmcv-build-') as work:
        work = Path(work)
        url, sha256 = sdist_link(version, index_url())
        print(f'mmcv {version}: compiling from {url} (about 10-15 min on 2 '
              'cores, once per Python and torch)', flush=True)
        with tarfile.open(download(url, sha256, work)) as archive:
            # The 'data' filter refuses paths out of `work` (Python >= 3.10.12).
            archive.extractall(work, **({'filter': 'data'} if hasattr(
                tarfile, 'data_filter') else {}))
        source = work / f'mmcv-{version}'
        fix_get_version(source)
        env = dict(os.environ, MAX_JOBS=os.environ.get(
            'MAX_JOBS', str(os.cpu_count() or 1)))
        subprocess.run([
            sys.executable, '-m', 'pip', 'wheel', '--no-build-isolation',
            '--no-deps', '--wheel-dir', str(work / 'dist'), str(source)
        ], check=True, env=env)
        wheel, = (work / 'dist').glob(f'mmcv-{version}-*.whl')
        target.mkdir(parents=True, exist_ok=True)
        # Two installs may build at once: each renames its own file in.
        partial = target / f'.{wheel.name}.{os.getpid()}'
        shutil.copy2(wheel, partial)
        os.replace(partial, target / wheel.name)
    return target / wheel.name


def cached_wheel(version: str, folder: Path):
    wheels = sorted(folder.glob(f'mmcv-{version}-*.whl'))
    return wheels[0] if wheels else None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--cache', type=Path, default=DEFAULT_CACHE / 'mmcv-wheels',
        help='where built wheels are kept, one folder per Python, torch '
        'and ops (default: %(default)s)')
    parser.add_argument(
        '--rebuild', action='store_true',
        help='compile again even when the cache has a wheel for this '
        'Python and torch')
    args = parser.parse_args(argv)
    try:
        version = pinned_version()
        folder = args.cache / build_key()
        wheel = None if args.rebuild else cached_wheel(version, folder)
        if wheel:
            print(f'mmcv {version}: the wheel compiled for {folder.name} '
                  f'({wheel})', flush=True)
        else:
            wheel = build(version, folder)
        subprocess.run([
            sys.executable, '-m', 'pip', 'install', '--force-reinstall',
            '--no-deps', str(wheel)
        ], check=True)
        # Its dependencies (mmengine, opencv, ...) from the index, as pip
        # would have installed them with mmcv itself.
        subprocess.run(
            [sys.executable, '-m', 'pip', 'install', str(wheel)], check=True)
    except InstallError as error:
        sys.exit(f'tools/install/mmcv_wheel.py: {error}')
    except subprocess.CalledProcessError as error:
        sys.exit(f'tools/install/mmcv_wheel.py: {" ".join(error.cmd)} '
                 f'failed (exit {error.returncode}); its output is above')


if __name__ == '__main__':
    main()
