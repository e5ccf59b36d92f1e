"""tools/analysis/excitation.py on a trained toy detector."""
import json

import matplotlib.image
import numpy as np
import pytest
from pycocotools.coco import COCO

from .utils import python_tool, run, tool_in_process

# Every test here reads the checkpoint that the `trained` fixture trains.
pytestmark = pytest.mark.slow


def test_excitation_figures_and_numbers(trained, toy_root, tmp_path):
    config, checkpoint = trained
    out = tmp_path / 'excitation'
    result = run(python_tool('analysis/excitation.py', config, checkpoint,
                             '--out', out), tmp_path)
    record = json.loads((out / 'excitation.json').read_text())
    # Every val object was cropped and run, under its own class.
    coco = COCO(str(toy_root / 'annotations' / 'instances_val.json'))
    expected = {
        category['name']: len(coco.getAnnIds(catIds=[category['id']]))
        for category in coco.loadCats(coco.getCatIds())
    }
    assert record['objects_per_class'] == expected
    # SE-ResNet-18: two blocks per stage, the paper's names, in order.
    blocks = record['blocks']
    assert list(blocks) == [f'SE_{s}_{b}' for s in (2, 3, 4, 5)
                            for b in (1, 2)]
    assert [blocks[name]['channels'] for name in blocks] == [
        64, 64, 128, 128, 256, 256, 512, 512
    ]
    for name, block in blocks.items():
        profiles = np.array(list(block['profiles'].values()))
        assert profiles.shape == (3, block['channels'])
        assert ((profiles > 0) & (profiles < 1)).all()
        # "all" is the mean over objects: between the class profiles.
        everything = np.array(block['profile_all'])
        assert (everything >= profiles.min(axis=0) - 1e-5).all()
        assert (everything <= profiles.max(axis=0) + 1e-5).all()
        assert block['mean_gate'] == pytest.approx(everything.mean(),
                                                   abs=1e-4)
        assert block['class_specificity'] >= 0
        assert 0 <= block['saturated'] <= 1
        assert f'| {name} | {block["channels"]} | ' in result.stdout
    # Figures: the paper's default blocks, the distribution, the summary.
    for name in ('SE_2_2', 'SE_3_2', 'SE_4_2', 'SE_5_1', 'SE_5_2'):
        assert matplotlib.image.imread(
            out / f'excitation_{name}.png').shape[:2] == (396, 880)
    assert not (out / 'excitation_SE_2_1.png').exists()
    assert (out / 'excitation_blocks.png').is_file()
    assert (out / 'excitation_distribution_SE_4_2_rectangle.png').is_file()
    assert (out / 'class_specificity.png').is_file()


def test_excitation_names_unknown_blocks(trained, tmp_path):
    config, checkpoint = trained
    result = tool_in_process('analysis/excitation.py', config, checkpoint,
                             '--blocks', 'SE_9_9', '--out', tmp_path,
                             cwd=tmp_path)
    assert result.returncode == 1
    assert "no SE block ['SE_9_9'] in this backbone" in result.stderr
    assert 'SE_5_2' in result.stderr


def test_excitation_names_an_unknown_class(trained, tmp_path):
    config, checkpoint = trained
    result = tool_in_process('analysis/excitation.py', config, checkpoint,
                             '--dist-class', 'hexagon', '--out',
                             tmp_path / 'out', cwd=tmp_path)
    assert result.returncode == 1
    assert '--dist-class hexagon' in result.stderr
    assert "a class of ['rectangle', 'ellipse', 'triangle']" in result.stderr
    assert not (tmp_path / 'out').exists()
