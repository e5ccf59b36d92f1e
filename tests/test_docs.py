"""The documentation cannot drift from the repository: every relative link
and anchor resolves, every ``configs/...`` path, ``tools/...`` script and
``make`` target a Markdown file names exists, every config of
``configs/senet/`` is in its metafile and its README, and every ``python
tools/...`` command of a code block uses flags its tool's ``--help`` lists.

The checks take the repository root as an argument, so that the last test
can run them on a copy in which a named file was renamed, and show that
they catch it."""
import itertools
import re
import shlex
import shutil
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest
import yaml

from .test_tools.utils import tool_in_process

REPO = Path(__file__).parents[1]

FENCE = re.compile(r'^```.*?^```', re.MULTILINE | re.DOTALL)
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
HEADING = re.compile(r'^(#{1,6}) +(.+?) *$', re.MULTILINE)
# A repository path: configs/... or tools/..., with shell globs and brace
# lists ({1x,2x}), not preceded by a path character (so that
# mmdet::faster_rcnn/... or another project's paths are not taken for ours).
NAMED_PATH = re.compile(
    r'(?<![\w/.:-])((?:configs|tools)/[\w./*{},-]*[\w*}])')
# A bare config file name in inline code (`faster-rcnn_se-r50_fpn_1x_coco.py`).
CONFIG_NAME = re.compile(
    r'`([\w{][\w.{},-]*_(?:coco|coco-2014|toy-shapes)\.py)`')
INLINE_CODE = re.compile(r'`([^`\n]+)`')
MAKE_COMMAND = re.compile(r'(?:^|[;&|]\s*)make ([\w-]+)')


def markdown_files(root: Path) -> List[Path]:
    """The project's Markdown: the top level, docs/ and the configs'."""
    return sorted([*root.glob('*.md'), *root.glob('docs/*.md'),
                   *root.glob('configs/**/*.md')])


def without_code_blocks(text: str) -> str:
    return FENCE.sub('', text)


def code_blocks(text: str) -> Iterator[str]:
    for block in FENCE.findall(text):
        yield block.split('\n', 1)[1].rsplit('```', 1)[0]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, inline-code marks and
    punctuation other than ``-`` and ``_`` dropped, spaces to hyphens."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def anchors(path: Path) -> Set[str]:
    """Every anchor of a Markdown file, repeated headings numbered as GitHub
    numbers them (``name``, ``name-1``, ...)."""
    seen: Dict[str, int] = {}
    found = set()
    for _, heading in HEADING.findall(without_code_blocks(path.read_text())):
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f'{anchor}-{count}')
    return found


def broken_links(root: Path) -> List[str]:
    problems = []
    for page in markdown_files(root):
        for target in LINK.findall(without_code_blocks(page.read_text())):
            if re.match(r'[a-z]+:', target):
                continue
            file_part, _, anchor = target.partition('#')
            linked = (page.parent / file_part).resolve() if file_part else page
            where = f'{page.relative_to(root)}: link {target}'
            if not linked.exists():
                problems.append(f'{where}: {file_part} does not exist')
            elif anchor and linked.suffix == '.md' and \
                    anchor not in anchors(linked):
                problems.append(f'{where}: no heading #{anchor} in '
                                f'{linked.relative_to(root)}')
    return problems


def expand_braces(pattern: str) -> List[str]:
    """``a_{1x,2x}_b`` -> ``a_1x_b``, ``a_2x_b`` (every brace list)."""
    parts = re.split(r'\{([^{}]*)\}', pattern)
    choices = [[part] if i % 2 == 0 else part.split(',')
               for i, part in enumerate(parts)]
    return [''.join(combination)
            for combination in itertools.product(*choices)]


def exists(root: Path, pattern: str) -> bool:
    if any(mark in pattern for mark in '*?['):
        return any(root.glob(pattern))
    return (root / pattern).exists()


def missing_named_files(root: Path) -> List[str]:
    configs = {path.name for path in root.glob('configs/**/*.py')}
    problems = []
    for page in markdown_files(root):
        text = page.read_text()
        for named in sorted(set(NAMED_PATH.findall(text))):
            for path in expand_braces(named):
                if not exists(root, path):
                    problems.append(f'{page.relative_to(root)} names {path}, '
                                    'which does not exist')
        for named in sorted(set(CONFIG_NAME.findall(text))):
            for name in expand_braces(named):
                if name not in configs:
                    problems.append(f'{page.relative_to(root)} names the '
                                    f'config {name}, which is not in configs/')
    return problems


def make_targets(root: Path) -> Set[str]:
    makefile = (root / 'Makefile').read_text()
    return set(re.findall(r'^([\w-]+):', makefile, re.MULTILINE))


def missing_make_targets(root: Path) -> List[str]:
    targets = make_targets(root)
    problems = []
    for page in markdown_files(root):
        text = page.read_text()
        spans = [*INLINE_CODE.findall(without_code_blocks(text)),
                 *(line for block in code_blocks(text)
                   for line in block.splitlines())]
        for span in spans:
            for target in MAKE_COMMAND.findall(span.strip()):
                if target not in targets:
                    problems.append(f'{page.relative_to(root)}: `make '
                                    f'{target}` is not a Makefile target')
    return problems


def unlisted_configs(root: Path) -> List[str]:
    folder = root / 'configs' / 'senet'
    metafile = yaml.safe_load((folder / 'metafile.yml').read_text())
    in_metafile = {Path(model['Config']).name for model in metafile['Models']}
    readme = (folder / 'README.md').read_text()
    problems = []
    for config in sorted(path.name for path in folder.glob('*.py')):
        if config not in in_metafile:
            problems.append(f'configs/senet/{config} is not in metafile.yml')
        if f']({config})' not in readme:
            problems.append(f'configs/senet/{config} has no row in '
                            'configs/senet/README.md')
    for model in metafile['Models']:
        if not (root / model['Config']).exists():
            problems.append(f'metafile.yml lists {model["Config"]}, which '
                            'does not exist')
        if model['Name'] != Path(model['Config']).stem:
            problems.append(f'metafile.yml names {model["Config"]} '
                            f'{model["Name"]}, not its file name')
    return problems


def tool_commands(root: Path) -> Iterator[Tuple[Path, str, List[str]]]:
    """(page, tool, flags) of every ``python tools/...`` command in a code
    block; continuation lines joined, comments and ``[...]`` marks of
    optional arguments dropped."""
    for page in markdown_files(root):
        for block in code_blocks(page.read_text()):
            for line in block.replace('\\\n', ' ').splitlines():
                if not line.startswith('python tools/'):
                    continue
                words = shlex.split(line, comments=True)
                flags = [word.strip('[]').split('=')[0] for word in words[2:]]
                yield page, words[1], [flag for flag in flags
                                       if flag.startswith('--')]


def help_flags(tool: str) -> Set[str]:
    result = tool_in_process(tool[len('tools/'):], '--help', cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    return set(re.findall(r'--[\w-]+', result.stdout))


def test_every_relative_link_and_anchor_resolves():
    assert broken_links(REPO) == []


def test_every_named_config_tool_and_make_target_exists():
    assert missing_named_files(REPO) == []
    assert missing_make_targets(REPO) == []


def test_every_senet_config_is_in_the_metafile_and_the_configs_readme():
    assert unlisted_configs(REPO) == []


def test_documented_tool_commands_use_flags_their_tools_accept():
    commands = list(tool_commands(REPO))
    # The pages document at least the training, testing, analysis and
    # deployment tools; an empty list would mean the parsing broke.
    assert {'tools/train.py', 'tools/test.py',
            'tools/analysis/plot_curves.py',
            'tools/deployment/pytorch2onnx.py'} <= {
                tool for _, tool, _ in commands}
    known: Dict[str, Set[str]] = {}
    problems = []
    for page, tool, flags in commands:
        if tool not in known:
            known[tool] = help_flags(tool)
        problems += [f'{page.relative_to(REPO)}: {tool} has no flag {flag}'
                     for flag in flags if flag not in known[tool]]
    assert problems == []


def test_anchor_names_follow_github():
    assert github_anchor('The embedded default: `make demo`') == \
        'the-embedded-default-make-demo'
    assert github_anchor('Model zoo (ImageNet-pretrained SE backbones)') == \
        'model-zoo-imagenet-pretrained-se-backbones'
    assert expand_braces('a_{1x,2x}_{b,c}.py') == [
        'a_1x_b.py', 'a_1x_c.py', 'a_2x_b.py', 'a_2x_c.py']


@pytest.fixture
def repository_copy(tmp_path) -> Path:
    """The documentation, Makefile, configs and tools in a folder of their
    own, to break."""
    for folder in ('configs', 'docs', 'tools', 'resources', 'tests'):
        shutil.copytree(REPO / folder, tmp_path / folder, symlinks=True,
                        ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('README.md', 'DEVELOPERS.md', 'Makefile'):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_the_checks_fail_when_a_named_file_is_renamed(repository_copy):
    root = repository_copy
    assert broken_links(root) == [] and missing_named_files(root) == []
    (root / 'tools/analysis/compare.py').rename(
        root / 'tools/analysis/compare_runs.py')
    config = 'faster-rcnn_se-r101_fpn_2x_coco.py'
    (root / 'configs/senet' / config).rename(
        root / 'configs/senet/faster-rcnn_se-r101_fpn_24e_coco.py')
    (root / 'docs/speed_and_memory.md').rename(root / 'docs/speed.md')
    named = '\n'.join(missing_named_files(root))
    assert 'names tools/analysis/compare.py, which does not exist' in named
    assert f'names the config {config}' in named
    links = '\n'.join(broken_links(root))
    assert 'README.md: link docs/speed_and_memory.md: ' \
        'docs/speed_and_memory.md does not exist' in links
    assert f'link {config}' in links
    listed = '\n'.join(unlisted_configs(root))
    assert 'configs/senet/faster-rcnn_se-r101_fpn_24e_coco.py is not in ' \
        'metafile.yml' in listed
    assert f'metafile.yml lists configs/senet/{config}' in listed


def test_the_checks_fail_on_a_renamed_heading_and_make_target(
        repository_copy):
    root = repository_copy
    page = root / 'docs' / 'training.md'
    page.write_text(page.read_text().replace('## Bad input',
                                             '## Bad data'))
    makefile = root / 'Makefile'
    makefile.write_text(makefile.read_text().replace('\ndemo: install',
                                                     '\ntoy-demo: install'))
    assert 'no heading #bad-input in docs/training.md' in '\n'.join(
        broken_links(root))
    assert '`make demo` is not a Makefile target' in '\n'.join(
        missing_make_targets(root))
