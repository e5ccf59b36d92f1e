"""The documentation cannot drift from the repository: every relative link
and anchor resolves, every ``configs/...`` path, ``tools/...`` script and
``make`` target a Markdown file names exists, every config of
``configs/senet/`` is in its metafile and its README, every ``python
tools/...`` command of a code block uses flags its tool's ``--help`` lists,
the trainings and checkpoints of one code block share a work dir, every
training command follows the one learning-rate rule (``--auto-scale-lr``),
every measured number quoted on a page is the one in the docs/benchmarks.md
section that its paragraph links, a picture said to be what a make target
draws is what that target draws, every message of ours that
docs/troubleshooting.md quotes is still in the code, the README stays
short, and no page names the development environment's tools, who did the
work or a tracker's issue numbers.

The checks take the repository root, or a page's text, as an argument, so
that the last tests can run them on a copy in which the drift was planted,
and show that they catch it."""
import ast
import itertools
import re
import shlex
import shutil
import struct
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

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
# AP values and differences, durations in minutes (ranges too: an estimate
# of a measured time is a figure that drifts), ratios, disk sizes. Each
# must be in the docs/benchmarks.md section that its paragraph links.
QUOTED_NUMBER = re.compile(
    r'\b(?P<tests>\d+) (?:tests|passed|failed|skipped)\b'
    r'|\b(?:AP|AP50|AP75) (?P<ap>\d\.\d{3})\b'
    r'|(?P<difference>[+-]\d+\.\d+(?: ± \d+\.\d+)?) (?:bbox )?AP\b'
    r'|(?<![\w.-])(?P<duration>\d+(?:-\d+)? (?:min|minutes)(?: \d+ s)?)\b'
    r'|\b(?P<ratio>\d+\.\d+)x\b'
    r'|(?<![\w.])(?P<size>\d+(?:\.\d+)? (?:GB|MB|GiB|MiB))\b')
# A link to a section of docs/benchmarks.md, from any folder.
BENCHMARKS_LINK = re.compile(r'\]\((?:[\w./]*/)?benchmarks\.md#([\w-]+)\)')
# Words that say who did the work or how it was organised, or cite a
# tracker: the docs speak of the software and the machine that measured it.
WORK_ORGANISATION = re.compile(
    r'\bissues? #?\d+|\bengineers?\b|\bthe lead\b|\bdesign card\b'
    r"|\bthe issue's\b|\b(?:earlier|this|same|that|another|later|previous|"
    r'other) sessions?\b|\bbetween sessions\b'
    # ... or where and how it was done, rather than what is not available.
    r'|\bwhere this was developed\b|\bno GPU was available\b'
    r'|\bwe (?:chose|decided|tried)\b|\bfirst try by hand\b'
    r'|\bcost someone\b|\bone-off script\b', re.IGNORECASE)
# A picture a make target draws: its alt text names the target, the
# source image's size and the score threshold, as tools/demo.py's caption
# writes it ("score > 0.5").
PICTURE = re.compile(r'!\[([^\]]*)\]\(([^)\s]+\.png)\)')
PICTURE_TARGET = re.compile(r'`?make ([\w-]+)`?')
PICTURE_SOURCE_SIZE = re.compile(r'\b(\d+)x(\d+)\b')
PICTURE_THRESHOLD = re.compile(r'score > (\d+(?:\.\d+)?)')
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


def user_pages(root: Path) -> List[Path]:
    """The pages a user reads: README.md, docs/ and the configs' READMEs
    (not the changelog and the developers' notes)."""
    return [page for page in markdown_files(root)
            if page.parent != root or page.name == 'README.md']


def benchmark_sections(benchmarks: str) -> Dict[str, str]:
    """Each section of docs/benchmarks.md by its anchor: from its heading to
    the next heading of the same or a higher level (subsections and code
    blocks included)."""
    headings = []
    position = 0
    for level, title in HEADING.findall(without_code_blocks(benchmarks)):
        line = re.compile(rf'^{level} +{re.escape(title)} *$', re.MULTILINE)
        found = line.search(benchmarks, position)
        headings.append((len(level), title, found.start()))
        position = found.end()
    sections: Dict[str, str] = {}
    seen: Dict[str, int] = {}
    for index, (level, title, start) in enumerate(headings):
        end = next((later_start for later_level, _, later_start
                    in headings[index + 1:] if later_level <= level),
                   len(benchmarks))
        anchor = github_anchor(title)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        sections[anchor if count == 0 else f'{anchor}-{count}'] = \
            benchmarks[start:end]
    return sections


def paragraphs(text: str) -> Iterator[Tuple[bool, str]]:
    """(is a code block, text) of each paragraph: code blocks whole, the
    rest split at blank lines (a table is one paragraph)."""
    position = 0
    for block in FENCE.finditer(text):
        for part in re.split(r'\n\s*\n', text[position:block.start()]):
            if part.strip():
                yield False, part
        yield True, block.group(0)
        position = block.end()
    for part in re.split(r'\n\s*\n', text[position:]):
        if part.strip():
            yield False, part


def quoted_figures(text: str) -> Iterator[Tuple[str, str, str]]:
    """(kind, value, as written) of each measured figure in ``text``."""
    for match in QUOTED_NUMBER.finditer(text):
        kind, value = next((kind, value) for kind, value
                           in match.groupdict().items() if value)
        yield kind, value, match.group(0)


def figure_in(kind: str, value: str, text: str) -> bool:
    number = r'(?<![\d.]){}(?![\d.]\d)'
    patterns = dict(tests=r'\b{} (?:tests|passed|failed|skipped)\b',
                    ap=number, difference=number, ratio=number,
                    duration=r'(?<![\d-]){}\b(?! \d+ s\b)',
                    size=r'(?<![\d.]){}\b')
    return re.search(patterns[kind].format(re.escape(value)),
                     text) is not None


def figures_not_from_their_section(page: str, text: str,
                                   benchmarks: str) -> List[str]:
    """Every measured figure of ``text`` (the page named ``page``) is in a
    paragraph that links a docs/benchmarks.md section, and that section
    has it: a figure measured again there and not here, or quoted from
    memory, fails. Code blocks quote none (a comment cannot link)."""
    sections = {anchor: ' '.join(section.split())
                for anchor, section in benchmark_sections(benchmarks).items()}
    problems = []
    for is_code, paragraph in paragraphs(text):
        # A figure may wrap across lines.
        paragraph = paragraph if is_code else ' '.join(paragraph.split())
        figures = list(quoted_figures(paragraph))
        if not figures:
            continue
        if is_code:
            problems += [f'{page}: a code block quotes "{written}": quote '
                         'measured figures in the text, with a link to their '
                         'docs/benchmarks.md section'
                         for _, _, written in figures]
            continue
        linked = BENCHMARKS_LINK.findall(paragraph)
        unknown = [anchor for anchor in linked if anchor not in sections]
        problems += [f'{page}: links benchmarks.md#{anchor}, which is not '
                     'a section there' for anchor in unknown]
        where = ' '.join(sections[anchor] for anchor in linked
                         if anchor in sections)
        for kind, value, written in figures:
            if not linked:
                problems.append(
                    f'{page} quotes "{written}" without a link to the '
                    'docs/benchmarks.md section that has it: link it in '
                    'the same paragraph')
            elif not figure_in(kind, value, where):
                problems.append(
                    f'{page} quotes "{written}", which its linked section '
                    f'({", ".join(linked)}) of docs/benchmarks.md does not '
                    'have: quote that section\'s figure, or measure it there '
                    '(command and commit)')
    return problems


def numbers_not_from_benchmarks(root: Path) -> List[str]:
    benchmarks = (root / 'docs' / 'benchmarks.md').read_text()
    return [problem for page in user_pages(root)
            if page.name != 'benchmarks.md' or page.parent.name != 'docs'
            for problem in figures_not_from_their_section(
                str(page.relative_to(root)), page.read_text(), benchmarks)]


def training_commands(text: str) -> Iterator[str]:
    """Each command of ``text``'s code blocks that runs a training script
    (continuation lines joined, comments dropped)."""
    for block in code_blocks(text):
        for line in block.replace('\\\n', ' ').splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            while words and re.match(r'[A-Z_0-9]+=', words[0]):
                words = words[1:]
            if not words or words[0] not in ('python', 'sbatch',
                                             *TRAINING_SCRIPTS):
                continue
            script, _ = training_work_dir(words)
            if script and '--help' not in words:
                yield ' '.join(words)


def training_without_the_rate_rule(page: str, text: str) -> List[str]:
    """The one learning-rate rule: every training command passes
    ``--auto-scale-lr``, so the rate follows the total batch on 1 GPU, 8
    GPUs and Slurm alike (each config's ``auto_scale_lr.base_batch_size``
    is the batch its rate is for)."""
    return [f'{page}: `{command}` trains without --auto-scale-lr: pass it on '
            'every training command (docs/training.md, the learning rate)'
            for command in training_commands(text)
            if '--auto-scale-lr' not in command.split()]


def trainings_without_the_rate_rule(root: Path) -> List[str]:
    """On every page but docs/benchmarks.md, which records the commands
    that measured as they ran."""
    return [problem for page in user_pages(root)
            if page != root / 'docs' / 'benchmarks.md'
            for problem in training_without_the_rate_rule(
                str(page.relative_to(root)), page.read_text())]


def work_organisation_mentions(page: str, text: str) -> List[str]:
    return [f'{page}: "{match.group(0)}" speaks of who did the work or of '
            'a tracker; speak of the software and the machine (cores, load, '
            'commit)'
            for match in WORK_ORGANISATION.finditer(without_code_blocks(text))]


def pages_about_the_work(root: Path) -> List[str]:
    return [problem for page in user_pages(root)
            for problem in work_organisation_mentions(
                str(page.relative_to(root)), page.read_text())]


def make_recipe(makefile: str, target: str) -> str:
    """The commands of a Makefile target, continuation lines joined."""
    match = re.search(rf'^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n?)*)',
                      makefile, re.MULTILINE)
    return match.group(1).replace('\\\n', ' ') if match else ''


def png_size(path: Path) -> Tuple[int, int]:
    """(width, height) from a PNG's header."""
    with open(path, 'rb') as handle:
        header = handle.read(24)
    return struct.unpack('>II', header[16:24])


def demo_drawing(demo_source: str) -> Tuple[float, int]:
    """tools/demo.py's default score threshold and the height of the
    caption strip it puts above a drawing."""
    default = re.search(r"'--score-thr', type=float, default=([\d.]+)",
                        demo_source)
    caption = re.search(r'^CAPTION_HEIGHT = (\d+)', demo_source,
                        re.MULTILINE)
    return float(default.group(1)), int(caption.group(1))


def pictures_not_drawn_by_their_target(
        page: str, text: str, makefile: str, demo_source: str,
        size_of: Callable[[str], Optional[Tuple[int, int]]]) -> List[str]:
    """A picture whose alt text names ``make TARGET`` is what that target
    draws: the target runs tools/demo.py at the score threshold the alt
    text gives, and the file is the drawing of an image of the size the alt
    text gives (tools/demo.py draws ground truth and prediction side by
    side under a caption strip). ``size_of`` gives a linked file's size."""
    default_threshold, caption_height = demo_drawing(demo_source)
    problems = []
    for alt, target in PICTURE.findall(text):
        named = PICTURE_TARGET.match(alt)
        if not named:
            continue
        where = f'{page}: the picture {target} ("{alt}")'
        recipe = make_recipe(makefile, named.group(1))
        command = next((line for line in recipe.splitlines()
                        if 'tools/demo.py' in line), '')
        if not command:
            problems.append(f'{where}: make {named.group(1)} draws nothing '
                            'with tools/demo.py')
            continue
        threshold = re.search(r'--score-thr ([\d.]+)', command)
        drawn_at = float(threshold.group(1)) if threshold else \
            default_threshold
        said = PICTURE_THRESHOLD.search(alt)
        if not said or float(said.group(1)) != drawn_at:
            problems.append(f'{where}: make {named.group(1)} draws '
                            f'predictions with score > {drawn_at:g}; say '
                            'so in the alt text')
        source = PICTURE_SOURCE_SIZE.search(alt)
        size = size_of(target)
        if not source:
            problems.append(f'{where}: give the drawn image\'s size (WxH) '
                            'in the alt text')
        elif size is None:
            problems.append(f'{where}: the file does not exist')
        else:
            width, height = int(source.group(1)), int(source.group(2))
            panels = 2 if '--gt' in command else 1
            expected = (panels * width, height + caption_height)
            if size != expected:
                problems.append(
                    f'{where}: the file is {size[0]}x{size[1]} px, where '
                    f'make {named.group(1)} draws a {width}x{height} image '
                    f'as {expected[0]}x{expected[1]}: draw it again with '
                    'the target')
    return problems


def pictures_not_drawn_by_their_targets(root: Path) -> List[str]:
    makefile = (root / 'Makefile').read_text()
    demo_source = (root / 'tools' / 'demo.py').read_text()
    problems = []
    for page in user_pages(root):
        def size_of(target: str, folder: Path = page.parent):
            path = folder / target
            return png_size(path) if path.is_file() else None
        problems += pictures_not_drawn_by_their_target(
            str(page.relative_to(root)), page.read_text(), makefile,
            demo_source, size_of)
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


def test_measured_numbers_are_quoted_from_their_benchmarks_section():
    assert numbers_not_from_benchmarks(REPO) == []


def test_every_training_command_scales_the_learning_rate():
    # The pages train in more than ten commands; fewer would mean the
    # parsing broke.
    assert sum(len(list(training_commands(page.read_text())))
               for page in user_pages(REPO)) > 10
    assert trainings_without_the_rate_rule(REPO) == []


def test_pictures_are_what_their_make_targets_draw():
    assert pictures_not_drawn_by_their_targets(REPO) == []
    # README's picture of make demo is among those checked.
    named = {PICTURE_TARGET.match(alt).group(1)
             for page in user_pages(REPO)
             for alt, _ in PICTURE.findall(page.read_text())
             if PICTURE_TARGET.match(alt)}
    assert 'demo' in named


def test_no_page_speaks_of_who_did_the_work_or_cites_a_tracker():
    assert pages_about_the_work(REPO) == []


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
    for name in ('README.md', 'DEVELOPERS.md', 'CHANGELOG.md', 'Makefile',
                 'LICENSE'):
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
    makefile.write_text(makefile.read_text().replace('\ndemo:',
                                                     '\ntoy-demo:'))
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


BENCHMARKS = 'benchmarks.md#'
INSTALL = BENCHMARKS + 'installation-and-the-test-suite'
DEMO = BENCHMARKS + 'the-toy-detector-make-demo'
TREES = BENCHMARKS + 'tree-crowns-on-real-images-make-trees'


def drift(text: str) -> str:
    """The problems of a planted page ``text`` against the real
    docs/benchmarks.md."""
    benchmarks = (REPO / 'docs' / 'benchmarks.md').read_text()
    return '\n'.join(figures_not_from_their_section('docs/planted.md', text,
                                                    benchmarks))


def test_the_checks_fail_on_each_kind_of_number_drift_the_docs_had():
    """Each kind of drift the pages once had, planted on a page of its own:
    figures that were never measured, measured at other code, or measured
    for another section. (The real pages' quotes pass:
    test_measured_numbers_are_quoted_from_their_benchmarks_section.)"""
    # The install time: "about 18 min", "10-15 min", "9-14 minutes" on
    # three pages, none of them the measured one.
    assert 'a code block quotes "18 min"' in drift(
        '```bash\nmake install   # about 18 min the first time\n```\n')
    assert 'quotes "10-15 min", which its linked section' in drift(
        f'mmcv compiles (10-15 min on 2 cores: [measured]({INSTALL})).\n')
    assert 'quotes "9-14 minutes" without a link' in drift(
        'The build takes 9-14 minutes on 2 cores.\n')
    # A figure that wraps across lines is still read whole.
    assert 'quotes "12 min 5 s", which its linked section' in drift(
        f'It took 12 min\n5 s ([measured]({INSTALL})).\n')
    # The test counts: 548, 612 and 400 on three pages.
    for count in ('548 tests', '612 passed', '400 passed'):
        assert f'quotes "{count}", which its linked section' in drift(
            f'`make test` runs the suite ({count}, [Benchmarks]({INSTALL})).')
    # The demo AP from before per-sample seeding.
    assert 'quotes "AP 0.713", which its linked section' in drift(
        f'It reached bbox AP 0.713 ([Benchmarks]({DEMO})).')
    # The trees AP: 0.039 on one page, 0.035 (another run's) on another.
    assert drift(f'Held-out AP 0.039 ([Benchmarks]({TREES})).') == ''
    assert 'quotes "AP 0.035", which its linked section' in drift(
        f'On the held-out image, AP 0.035 ([Benchmarks]({TREES})).')
    # A figure of one section quoted with a link to another.
    assert 'quotes "AP 0.039", which its linked section' in drift(
        f'It reached AP 0.039 ([Benchmarks]({DEMO})).')
    assert 'links benchmarks.md#no-such-section, which is not a section' in \
        drift(f'AP 0.039 ([Benchmarks]({BENCHMARKS}no-such-section)).')
    # The disk: a size quoted without its section.
    assert 'quotes "6.4 GB" without a link' in drift('It needs 6.4 GB.\n')


def test_the_checks_fail_on_a_picture_the_make_target_does_not_draw():
    makefile = (REPO / 'Makefile').read_text()
    demo_source = (REPO / 'tools' / 'demo.py').read_text()
    whole = ('![make trees: the whole held-out image (1249x1035), ground '
             'truth left, prediction right, score > 0.5]'
             '(../resources/trees_held_out_prediction.png)')

    def problems(text: str, size: Tuple[int, int]) -> str:
        return '\n'.join(pictures_not_drawn_by_their_target(
            'docs/planted.md', text, makefile, demo_source,
            lambda target: size))

    assert problems(whole, (2 * 1249, 1035 + 22)) == ''
    # The page's old picture: a 512 px tile at threshold 0.3, not what
    # make trees draws (the whole held-out image at 0.5)...
    tile = ('![make trees: a 512 px tile of the held-out image (512x512), '
            'score > 0.3](../resources/trees_held_out_prediction.png)')
    assert 'make trees draws predictions with score > 0.5' in problems(
        tile, (1024, 512 + 22))
    # ... and the same file under a caption that describes make trees.
    assert 'the file is 1024x534 px, where make trees draws a 1249x1035 ' \
        'image as 2498x1057' in problems(whole, (1024, 534))
    assert "give the drawn image's size" in problems(
        '![make demo: toy val image 000001, score > 0.3](demo.png)',
        (512, 278))
    assert 'make compare draws nothing with tools/demo.py' in problems(
        '![make compare: curves (640x480)](curves.png)', (640, 480))


def test_the_checks_fail_on_training_without_the_learning_rate_rule():
    # README's Slurm example trained 2 nodes x 8 GPUs without the flag.
    slurm = ('```bash\nsbatch -p PARTITION --nodes=2 --ntasks-per-node=8 '
             '--gres=gpu:8 --time=4:00:00 \\\n    tools/slurm_batch.sh '
             'configs/faster_rcnn_se_r50.py work_dirs/x\n```\n')
    one_gpu = ('```bash\nMAX_RESTARTS=1 python tools/train.py '
               'configs/faster_rcnn_se_r50.py  # one GPU\n```\n')
    problems = '\n'.join(training_without_the_rate_rule(
        'README.md', slurm + one_gpu))
    assert 'tools/slurm_batch.sh configs/faster_rcnn_se_r50.py work_dirs/x` '\
        'trains without --auto-scale-lr' in problems
    assert '`python tools/train.py configs/faster_rcnn_se_r50.py` trains ' \
        'without --auto-scale-lr' in problems
    fixed = slurm.replace('work_dirs/x', 'work_dirs/x --auto-scale-lr')
    assert training_without_the_rate_rule('README.md', fixed) == []
    # A quoted message that names a command is not a command.
    assert training_without_the_rate_rule(
        'docs/planted.md', '```\nstopped: resume with python tools/train.py '
        'CONFIG --resume\n```\n') == []


def test_the_checks_fail_on_a_page_about_who_did_the_work():
    text = ('It shared the 2 cores with four other engineers\' work; the '
            'first try (issue 35) and an earlier session\'s run.\n'
            '```\nsession.run(None, feeds)\n```\n')
    problems = '\n'.join(work_organisation_mentions('docs/planted.md', text))
    for said in ('engineers', 'issue 35', 'earlier session'):
        assert f'"{said}" speaks of who did the work' in problems
    assert 'session.run' not in problems
    text = ('No GPU was available where this was developed. We chose it '
            'after a first try by hand and a one-off script; the rate can be '
            'set by hand.\n')
    problems = '\n'.join(work_organisation_mentions('docs/planted.md', text))
    for said in ('No GPU was available', 'where this was developed',
                 'We chose', 'first try by hand', 'one-off script'):
        assert f'"{said}" speaks of who did the work' in problems
    assert '"by hand"' not in problems


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
            "f'{filename} holds Python objects besides tensors, plain '",
            "f'{filename} contains Python objects besides tensors, plain '")
    problems = '\n'.join(messages_not_in_the_code(root))
    assert 'quotes "holds Python objects besides tensors' in problems
