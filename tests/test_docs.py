"""The documentation cannot drift from the repository: every relative link
and anchor resolves, every ``configs/...`` path, ``tools/...`` script and
``make`` target a Markdown file names exists, every config of
``configs/senet/`` is in its metafile and its README, every ``python
tools/...`` command of a code block uses flags its tool's ``--help`` lists,
the trainings and checkpoints of one code block share a work dir, a
measured number quoted on a page is the one on docs/benchmarks.md, every
message of ours that docs/troubleshooting.md quotes is still in the code,
the README stays short, and no page names the development environment's
tools.

The checks take the repository root as an argument, so that the last tests
can run them on a copy in which the drift was planted, and show that they
catch it."""
import ast
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

README_MAX_LINES = 200
# The tools of the machines this project was developed on, which no user
# has: a page says "no GPU was available" instead.
DEVELOPMENT_TOOLS = re.compile(
    r'\blent\b|device (?:tool|machine)|not drawn|give_back|budget_left',
    re.IGNORECASE)
# A measured number with its label, as pages quote them: test counts, COCO
# AP values and differences, durations (not ranges: "10-15 min" is an
# estimate), ratios. Each must also be on docs/benchmarks.md, the one page
# of measurements.
QUOTED_NUMBER = re.compile(
    r'\b(?P<tests>\d+) (?:tests|passed)\b'
    r'|\b(?:AP|AP50|AP75) (?P<ap>\d\.\d{3})\b'
    r'|(?P<difference>[+-]\d+\.\d+(?: ± \d+\.\d+)?) (?:bbox )?AP\b'
    r'|(?<![\w-])(?P<duration>\d+ min(?: \d+ s)?)\b'
    r'|\b(?P<ratio>\d+\.\d+)x\b')
# The scripts that train, and which positional argument is the work dir.
TRAINING_SCRIPTS = {'tools/train.py': None, 'tools/dist_train.sh': None,
                    'tools/slurm_train.sh': 3, 'tools/slurm_batch.sh': 1}
CHECKPOINT_PATH = re.compile(r'(work_dirs/\S+)/[\w.-]+\.pth\b')
# How our messages start where the tools print them, or a traceback shows
# them; docs/troubleshooting.md quotes them with <...> for what varies.
OUR_MESSAGE = re.compile(r'^(?:error: |stopped: |senet_mmdet\.[\w.]+: )')
PLACEHOLDER = re.compile(r'<[^<>]*>|\.\.\.')


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


def readme_too_long(root: Path) -> List[str]:
    lines = len((root / 'README.md').read_text().splitlines())
    return [f'README.md has {lines} lines, more than {README_MAX_LINES}: '
            'move the detail to a docs/ page and link it'
            ] if lines > README_MAX_LINES else []


def development_tool_mentions(root: Path) -> List[str]:
    return [f'{page.relative_to(root)}: names a development-environment '
            f'tool ("{match.group(0)}"); say "no GPU was available where '
            'this was developed" instead'
            for page in markdown_files(root)
            for match in DEVELOPMENT_TOOLS.finditer(page.read_text())]


def numbers_not_on_benchmarks(root: Path) -> List[str]:
    benchmarks_page = root / 'docs' / 'benchmarks.md'
    benchmarks = benchmarks_page.read_text()
    number = r'(?<![\d.]){}(?!\d)'
    patterns = dict(tests=r'\b{} (?:tests|passed)\b', ap=number,
                    difference=number, ratio=number,
                    duration=r'\b{}\b(?! \d+ s\b)')
    problems = []
    for page in markdown_files(root):
        if page == benchmarks_page:
            continue
        for match in QUOTED_NUMBER.finditer(page.read_text()):
            kind, value = next((kind, value) for kind, value
                               in match.groupdict().items() if value)
            if not re.search(patterns[kind].format(re.escape(value)),
                             benchmarks):
                problems.append(
                    f'{page.relative_to(root)} quotes "{match.group(0)}", '
                    'which docs/benchmarks.md does not have: measure it '
                    'there (command and commit) or quote that page')
    return problems


def training_work_dir(words: List[str]) -> Tuple[str, str]:
    """(script, work dir) of a command that trains, or ('', '')."""
    script = next((word for word in words if word in TRAINING_SCRIPTS), '')
    if not script:
        return '', ''
    args = words[words.index(script) + 1:]
    if '--work-dir' in args:
        return script, args[args.index('--work-dir') + 1]
    positional = [arg for arg in args if not arg.startswith('-')]
    position = TRAINING_SCRIPTS[script]
    if position is not None and len(positional) > position:
        return script, positional[position]
    config = next((arg for arg in positional if arg.endswith('.py')), '')
    # MMDetection's default: work_dirs/<config name>.
    return script, f'work_dirs/{Path(config).stem}' if config else ''


def work_dir_mismatches(root: Path) -> List[str]:
    """Every training command of a code block writes one work dir, and
    every checkpoint the block names lies in it."""
    problems = []
    for page in markdown_files(root):
        for block in code_blocks(page.read_text()):
            trained = set()
            for command in block.replace('\\\n', ' ').splitlines():
                try:
                    words = shlex.split(command, comments=True)
                except ValueError:
                    continue
                _, work_dir = training_work_dir(words)
                # Placeholders (WORK_DIR, CONFIG) name no folder.
                if work_dir and not re.search(r'[A-Z]{3}', work_dir):
                    trained.add(work_dir.rstrip('/'))
            if not trained:
                continue
            where = f'{page.relative_to(root)}: a code block'
            if len(trained) > 1:
                problems.append(f'{where} trains into {sorted(trained)}: '
                                'give every training the same --work-dir')
            for folder in sorted(set(CHECKPOINT_PATH.findall(block))):
                if folder not in trained:
                    problems.append(
                        f'{where} names a checkpoint in {folder}, but its '
                        f'training writes {sorted(trained)}')
    return problems


def message_pieces(root: Path) -> Set[str]:
    """The string literals of the package and the tools, f-strings cut at
    their replacement fields."""
    pieces = set()
    for path in [*root.glob('senet_mmdet/**/*.py'),
                 *root.glob('tools/**/*.py')]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                pieces.update(value.value for value in node.values
                              if isinstance(value, ast.Constant))
            elif isinstance(node, ast.Constant) and \
                    isinstance(node.value, str):
                pieces.add(node.value)
    return pieces


def made_of_pieces(text: str, pieces: Set[str]) -> int:
    """How far ``text`` is what the code writes: a part of one literal, or
    the end of one, whole literals, and the start of one, joined as the
    code joins them. Returns the length of the longest such beginning."""
    if any(text in piece for piece in pieces):
        return len(text)
    # Messages are built of short literals; docstrings would only cost.
    short = [piece for piece in pieces if len(piece) <= 500]
    ends = {piece[i:] for piece in short for i in range(len(piece))}
    starts = {piece[:i] for piece in short for i in range(1, len(piece) + 1)}
    reached = {j for j in range(1, len(text)) if text[:j] in ends}
    for i in range(1, len(text)):
        if i not in reached:
            continue
        if text[i:] in starts:
            return len(text)
        reached.update(j for j in range(i + 1, len(text))
                       if text[i:j] in pieces)
    return max(reached, default=0)


def quoted_messages(root: Path) -> List[str]:
    text = (root / 'docs' / 'troubleshooting.md').read_text()
    return [line for block in code_blocks(text)
            for line in block.splitlines() if OUR_MESSAGE.match(line)]


def messages_not_in_the_code(root: Path) -> List[str]:
    """Every message of ours that troubleshooting.md quotes is, between its
    ``<...>`` placeholders, what the code's string literals say."""
    pieces = message_pieces(root)
    problems = []
    for message in quoted_messages(root):
        for fragment in PLACEHOLDER.split(OUR_MESSAGE.sub('', message)):
            if len(fragment.strip()) < 12:
                continue
            reached = made_of_pieces(fragment, pieces)
            if reached < len(fragment):
                problems.append(
                    f'docs/troubleshooting.md quotes "{fragment.strip()}", '
                    'which the code no longer says (from '
                    f'"{fragment[reached:].strip()}" on)')
    return problems


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


def test_the_readme_is_short_and_no_page_names_development_tools():
    assert readme_too_long(REPO) == []
    assert development_tool_mentions(REPO) == []


def test_measured_numbers_are_quoted_as_benchmarks_has_them():
    assert numbers_not_on_benchmarks(REPO) == []


def test_one_code_block_trains_and_tests_in_one_work_dir():
    assert work_dir_mismatches(REPO) == []


def test_troubleshooting_quotes_messages_the_code_still_gives():
    # The page quotes more than ten of ours; fewer would mean the parsing
    # broke.
    assert len(quoted_messages(REPO)) >= 10
    assert messages_not_in_the_code(REPO) == []


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
    for folder in ('configs', 'docs', 'tools', 'resources', 'tests',
                   'senet_mmdet'):
        shutil.copytree(REPO / folder, tmp_path / folder, symlinks=True,
                        ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('README.md', 'DEVELOPERS.md', 'CHANGELOG.md', 'Makefile'):
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


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def test_the_checks_fail_on_a_long_readme_and_a_named_development_tool(
        repository_copy):
    root = repository_copy
    readme = root / 'README.md'
    readme.write_text(readme.read_text() + 'more\n' * README_MAX_LINES)
    replace(root / 'docs' / 'training.md', 'Not run here:',
            'No GPU was lent to this work (the device tool said so). '
            'Not run here:')
    assert 'more than 200' in '\n'.join(readme_too_long(root))
    named = '\n'.join(development_tool_mentions(root))
    assert 'docs/training.md: names a development-environment tool ' \
        '("lent")' in named
    assert '("device tool")' in named


def test_the_checks_fail_on_a_number_that_drifted_from_benchmarks(
        repository_copy):
    root = repository_copy
    replace(root / 'README.md', 'bbox AP 0.713', 'bbox AP 0.731')
    replace(root / 'docs' / 'development.md', '## What the tests cover',
            'The suite has 560 tests and takes 11 min 2 s.\n\n'
            '## What the tests cover')
    problems = '\n'.join(numbers_not_on_benchmarks(root))
    assert 'README.md quotes "AP 0.731"' in problems
    assert 'docs/development.md quotes "560 tests"' in problems
    assert 'docs/development.md quotes "11 min 2 s"' in problems
    assert '0.713' not in problems


def test_the_checks_fail_on_a_checkpoint_outside_the_trained_work_dir(
        repository_copy):
    root = repository_copy
    readme = root / 'README.md'
    # The README's old drift: the 8-GPU line trained into MMDetection's
    # default work dir, the test line read another.
    replace(readme, 'tools/dist_train.sh configs/faster_rcnn_se_r50.py 8 '
            '--work-dir work_dirs/faster_rcnn_se_r50',
            'tools/dist_train.sh configs/faster_rcnn_se_r50.py 8')
    replace(readme, '--work-dir work_dirs/faster_rcnn_se_r50 --auto-scale-lr',
            '--work-dir work_dirs/se_r50 --auto-scale-lr')
    replace(readme, 'python tools/test.py configs/faster_rcnn_se_r50.py '
            'work_dirs/faster_rcnn_se_r50/epoch_12.pth',
            'python tools/test.py configs/faster_rcnn_se_r50.py '
            'work_dirs/se_r50/epoch_12.pth')
    problems = '\n'.join(work_dir_mismatches(root))
    assert "README.md: a code block trains into ['work_dirs/" \
        "faster_rcnn_se_r50', 'work_dirs/se_r50']" in problems
    assert training_work_dir(['sbatch', '-p', 'gpu', 'tools/slurm_batch.sh',
                              'a/b.py', 'work_dirs/x']) == (
                                  'tools/slurm_batch.sh', 'work_dirs/x')
    assert training_work_dir(['python', 'tools/train.py', 'configs/c.py']) \
        == ('tools/train.py', 'work_dirs/c')


def test_the_checks_fail_on_a_quoted_message_the_code_reworded(
        repository_copy):
    root = repository_copy
    assert messages_not_in_the_code(root) == []
    replace(root / 'senet_mmdet' / 'engine' / 'checkpoint.py',
            "f'{filename} holds Python objects besides tensors and plain '",
            "f'{filename} contains Python objects besides tensors and plain '")
    problems = '\n'.join(messages_not_in_the_code(root))
    assert 'quotes "holds Python objects besides tensors' in problems
