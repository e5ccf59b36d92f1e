"""The README's model-zoo tables, for the tests that check them against
what the converter derives."""
import re
from pathlib import Path
from typing import Dict

README = Path(__file__).parents[2] / 'README.md'

# Backbone arguments the zoo tables leave out when they hold these values.
DEFAULTS = dict(se_ratio=16, avg_down=False, deep_stem=False,
                anti_alias=False, relu_before_se=False, style='pytorch',
                stem_pool='pytorch')


def readme_zoo_arguments() -> Dict[str, str]:
    """checkpoint -> the backbone arguments its zoo row lists."""
    return dict(
        re.findall(r'^\| `([^`]+)` \| [^|]+ \| `([^`]+)` \|$',
                   README.read_text(), re.MULTILINE))


def shown_arguments(backbone: dict) -> str:
    """Converted conventions as a zoo row lists them: the arguments that
    differ from :data:`DEFAULTS`, in the converter's order."""
    return ', '.join(f'{name}={value!r}' for name, value in backbone.items()
                     if DEFAULTS.get(name, object()) != value)
