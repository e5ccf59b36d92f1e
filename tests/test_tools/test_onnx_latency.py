"""tools/deployment/onnx_latency.py: exported models timed side by side on
one input, sizes and ratios to the first."""
import json

import torch
from torch import nn

from .utils import TOOLS, load_tool, tool_in_process

LATENCY = 'deployment/onnx_latency.py'


def export(model: nn.Module, path) -> None:
    options = dict(input_names=['input'], opset_version=11,
                   dynamic_axes=dict(input={2: 'h', 3: 'w'}))
    if 'dynamo' in torch.onnx.export.__code__.co_varnames:
        options['dynamo'] = False
    torch.onnx.export(model.eval(), torch.randn(1, 3, 64, 64), str(path),
                      **options)


def test_two_files_timed_with_sizes_and_ratios(tmp_path):
    torch.manual_seed(0)
    small, large = tmp_path / 'small.onnx', tmp_path / 'large.onnx'
    export(nn.Conv2d(3, 8, 3), small)
    export(nn.Sequential(nn.Conv2d(3, 64, 3), nn.Conv2d(64, 64, 3)), large)
    out = tmp_path / 'latency.json'
    result = tool_in_process(LATENCY, small, large,
                             '--labels', 'plain', 'SE', '--shape', 64, 96,
                             '--rounds', 3, '--threads', 1, '--out', out,
                             cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    plain, se = report['rows']
    assert (plain['label'], se['label']) == ('plain', 'SE')
    assert plain['size_ratio'] == plain['median_ratio'] == 1.0
    assert se['megabytes'] == large.stat().st_size / 2**20
    assert se['size_ratio'] == large.stat().st_size / small.stat().st_size
    assert se['median_ratio'] == se['median_ms'] / plain['median_ms']
    assert se['min_ratio'] == se['min_ms'] / plain['min_ms']
    assert report['shape'] == [64, 96] and report['rounds'] == 3
    assert f'| SE | {se["megabytes"]:.1f} | {se["size_ratio"]:.3f} |' in \
        result.stdout


def test_profile_splits_each_file_by_operator_type(tmp_path):
    """--profile: milliseconds per run of each operator type, per file;
    an operator only one file has is 0 in the other's column."""
    torch.manual_seed(0)
    conv, conv_softmax = tmp_path / 'conv.onnx', tmp_path / 'softmax.onnx'
    export(nn.Conv2d(3, 8, 3), conv)
    export(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Softmax(dim=1)),
           conv_softmax)
    out = tmp_path / 'latency.json'
    result = tool_in_process(LATENCY, conv, conv_softmax,
                             '--labels', 'conv', 'conv+softmax', '--shape',
                             64, 64, '--rounds', 1, '--threads', 1,
                             '--profile', 2, '--out', out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    profiles = {row['label']: row['operator_ms']
                for row in json.loads(out.read_text())['rows']}
    assert set(profiles) == {'conv', 'conv+softmax'}
    assert 'Softmax' not in profiles['conv']
    assert profiles['conv+softmax']['Softmax'] > 0
    assert all(ms > 0 for profile in profiles.values()
               for ms in profile.values())
    assert '| operator type (ms per run) | conv | conv+softmax |' in \
        result.stdout
    softmax_ms = profiles['conv+softmax']['Softmax']
    assert f'| Softmax | 0.0 | {softmax_ms:.1f} |' in result.stdout


def test_rounds_interleave_every_file_once(tmp_path):
    tool = load_tool(TOOLS / LATENCY)
    order = []

    class Session:
        def __init__(self, name):
            self.name = name

        def get_inputs(self):
            return [type('Input', (), dict(name='input'))]

        def run(self, outputs, feed):
            order.append(self.name)

    seconds = tool.time_interleaved([Session('a'), Session('b')], None, 3)
    # One warm-up each, then each round starts with another file.
    assert order == ['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']
    assert [len(times) for times in seconds] == [3, 3]


def refusal(*args, cwd) -> str:
    """A usage error: rc 2 and the message on stderr."""
    result = tool_in_process(LATENCY, *args, cwd=cwd)
    assert result.returncode == 2, result.stderr
    return result.stderr


def test_bad_arguments_are_named(tmp_path):
    present = tmp_path / 'a.onnx'
    present.write_bytes(b'')
    assert f'{tmp_path}/absent.onnx does not exist' in refusal(
        present, tmp_path / 'absent.onnx', cwd=tmp_path)
    assert 'give at least two ONNX files' in refusal(present, cwd=tmp_path)
    assert '--labels has 1 names for 2 files' in refusal(
        present, present, '--labels', 'one', cwd=tmp_path)
    assert '--rounds and --threads must be at least 1' in refusal(
        present, present, '--rounds', 0, cwd=tmp_path)
    assert '--profile must be 0 or more runs, got -1' in refusal(
        present, present, '--profile', -1, cwd=tmp_path)
