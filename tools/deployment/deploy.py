"""Export a whole detector to ONNX with mmdeploy and check its detections in
onnxruntime against PyTorch.

    python tools/deployment/deploy.py CONFIG [CHECKPOINT] --image IMG [IMG ...]
        [--deploy-cfg configs/deploy/detection_onnxruntime_dynamic.py]
        [--work-dir work_dirs/deploy] [--score-thr 0.3] [--repeat N]
        [--cfg-options K=V ...]

Runs on both tested stacks: torch 2.13 (``make install``, which installs
mmdeploy 1.3.1 without its dependencies, so that its ``protobuf<=3.20.2``
pin cannot downgrade what onnx 1.23 needs) and torch 2.1 (``make
install-torch21``). On torch releases newer than mmdeploy, the export runs
inside :func:`senet_mmdet.apis.deployment.mmdeploy_torch_compat`.

The first image is the export's example input; every image is then run
four ways:

- onnxruntime, through mmdeploy's backend model (which loads mmdeploy's
  custom-op library);
- the raw file in a plain onnxruntime session without that library: its
  outputs must be the backend model's;
- the same rewritten model in PyTorch (mmdeploy's rewriters active): the
  function the ONNX file should compute;
- the model as MMDetection runs it (``test_step``).

Two detections are the same when their labels are equal, every box
coordinate is within 0.01 px and the scores are within 1e-4. Export
parity: every detection of onnxruntime is among PyTorch's rewritten ones
and the other way round, raw outputs in input pixels, and for a model with
a mask head (exported with
``configs/deploy/instance-seg_onnxruntime_dynamic.py``, the default for
one) each matched detection's mask probabilities within 1e-3; the tool
exits 1 otherwise. Agreement with MMDetection (boxes in image pixels, detections
scoring at least ``--score-thr``) is reported, not required: mmdeploy
1.3.1 post-processes the RPN differently from MMDetection (one NMS over
all pyramid levels instead of one per level, and proposals under the
deploy config's ``score_threshold`` dropped), so where proposals of two
levels overlap, the detections built on them can differ.

A detection scoring within 1e-4 of the lowest score a side kept (it keeps
at most ``max_per_img``) may be missing from the other side; it is not
looked for. The tool writes ``end2end.onnx`` and ``report.json`` in
``--work-dir``, prints a table and the median latency of both runtimes.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Sequence, Tuple

import numpy as np
import onnxruntime
import torch
from mmengine.config import DictAction

import senet_mmdet  # noqa: F401  (registers the SE modules)
from senet_mmdet.apis import load_config
from senet_mmdet.apis.deployment import (ExporterUnavailableError,
                                         add_timing_and_loading_arguments,
                                         check_arguments, median_seconds,
                                         mmdeploy_torch_compat)
from senet_mmdet.engine import allow_unsafe_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEPLOY_CFG = osp.join(REPO, 'configs', 'deploy',
                      'detection_onnxruntime_dynamic.py')
# The default for a model with a mask head: masks as a third output.
INSTANCE_SEG_DEPLOY_CFG = osp.join(REPO, 'configs', 'deploy',
                                   'instance-seg_onnxruntime_dynamic.py')
INSTALL_HINT = ('make install installs it (pip install --no-deps '
                'mmdeploy==1.3.1 -r requirements/deploy.txt, see '
                'requirements/deploy-nodeps.txt)')
# Two detections are the same within these (pixels, score).
BOX_BOUND = 1e-2
SCORE_BOUND = 1e-4
# Two matched detections' mask probabilities are the same within this.
MASK_BOUND = 1e-3
# MMDetection's ImageNet pixel std, RGB: the input spread random weights
# are scaled for (scale_stem_to_input).
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)
# The two comparisons of each image, in the report's order.
INDEX = dict(export=0, mmdet=1)
AGAINST = dict(export='PyTorch, rewritten (export parity)',
               mmdet='MMDetection (agreement)')


class DeployError(Exception):
    """A refusal with its reason; the tool prints it as ``error: ...``."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'config', help='the MMDetection model config (.py) to export')
    parser.add_argument(
        'checkpoint', nargs='?',
        help='trained weights (.pth); without them the weights are random '
        '(seed 0, the first conv scaled to the config\'s input '
        'normalisation, saved as WORK_DIR/random_weights.pth)')
    parser.add_argument('--image', nargs='+', required=True,
                        help='images to export with (the first) and check')
    parser.add_argument(
        '--deploy-cfg',
        help='mmdeploy deploy config (onnxruntime backend; default '
        'configs/deploy/detection_onnxruntime_dynamic.py, or '
        'instance-seg_onnxruntime_dynamic.py beside it for a model with '
        'a mask head)')
    parser.add_argument(
        '--work-dir', default='work_dirs/deploy',
        help='where end2end.onnx and report.json are written (default '
        'work_dirs/deploy)')
    parser.add_argument(
        '--score-thr', type=float, default=0.3,
        help='lowest score checked against MMDetection (default 0.3)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={},
        help='override settings of the model config, as in tools/test.py '
        '(e.g. model.test_cfg.rcnn.score_thr=0 keeps every detection)')
    add_timing_and_loading_arguments(parser)
    args = parser.parse_args()
    check_arguments(parser, args,
                    ('config', 'checkpoint', 'deploy_cfg', 'image'))
    return args


def require_mmdeploy() -> None:
    try:
        import mmdeploy  # noqa: F401
    except ImportError as error:
        raise DeployError(f'mmdeploy is not installed ({error}): '
                          f'{INSTALL_HINT}') from None


def custom_operators(onnx_file: str) -> List[str]:
    """The operators of ``onnx_file`` outside ONNX's own domain, as
    ``domain:type`` (mmdeploy's, such as its deformable convolution)."""
    import onnx
    graph = onnx.load(onnx_file, load_external_data=False).graph
    return sorted({f'{node.domain}:{node.op_type}' for node in graph.node
                   if node.domain not in ('', 'ai.onnx')})


def default_deploy_cfg(model_cfg) -> str:
    """The deploy config for ``model_cfg``: instance segmentation for a
    model with a mask head, detection otherwise."""
    roi_head = model_cfg.model.get('roi_head') or {}
    return INSTANCE_SEG_DEPLOY_CFG if roi_head.get('mask_head') \
        else DEPLOY_CFG


def detections(boxes, scores, labels, masks=None) -> Dict[str, np.ndarray]:
    """One image's detections (tensors or arrays) as arrays; ``masks``,
    the raw per-detection mask probabilities, flattened per detection."""
    found = dict(
        boxes=torch.as_tensor(boxes).detach().float().numpy().reshape(-1, 4),
        scores=torch.as_tensor(scores).detach().float().numpy().reshape(-1),
        labels=torch.as_tensor(labels).detach().numpy().reshape(-1).astype(
            np.int64))
    if masks is not None:
        found['masks'] = torch.as_tensor(masks).detach().float().numpy(
        ).reshape(len(found['scores']), -1)
    return found


def unmatched_and_differences(reference: Dict[str, np.ndarray],
                              candidate: Dict[str, np.ndarray],
                              floor: float, box_bound: float,
                              score_bound: float, max_kept: int) -> dict:
    """Detections of ``reference`` scoring at least ``floor`` that
    ``candidate`` lacks, and the largest box and score differences of the
    matched ones (and of their masks, where both sides have them). A
    candidate matches when its label is the same, its score within
    ``score_bound`` and every coordinate within ``box_bound``; the closest
    one counts."""
    if len(candidate['scores']) >= max_kept:
        # The candidate stopped at max_kept detections: a reference
        # detection scoring about as low as its last one may be cut.
        floor = max(floor, float(candidate['scores'].min()) + score_bound)
    checked = np.flatnonzero(reference['scores'] >= floor)
    missing, box_diffs, score_diffs, mask_diffs = [], [0.0], [0.0], [0.0]
    with_masks = 'masks' in reference and 'masks' in candidate
    for index in checked:
        same_label = candidate['labels'] == reference['labels'][index]
        box_diff = np.abs(candidate['boxes'] -
                          reference['boxes'][index]).max(axis=1,
                                                         initial=0.0)
        score_diff = np.abs(candidate['scores'] - reference['scores'][index])
        fits = same_label & (box_diff <= box_bound) & (score_diff <=
                                                        score_bound)
        if not fits.any():
            missing.append(int(index))
            continue
        best = np.flatnonzero(fits)[np.argmin(box_diff[fits])]
        box_diffs.append(float(box_diff[best]))
        score_diffs.append(float(score_diff[best]))
        if with_masks:
            mask_diffs.append(float(np.abs(
                candidate['masks'][best] - reference['masks'][index]).max(
                    initial=0.0)))
    return dict(checked=int(len(checked)), missing=missing,
                max_box_diff=max(box_diffs), max_score_diff=max(score_diffs),
                max_mask_diff=max(mask_diffs) if with_masks else None)


def compare(name: str, ours: Dict[str, np.ndarray],
            theirs: Dict[str, np.ndarray], floor: float,
            max_kept: int) -> dict:
    """Both ways: which checked detections of each side the other lacks."""
    forward = unmatched_and_differences(ours, theirs, floor, BOX_BOUND,
                                        SCORE_BOUND, max_kept)
    backward = unmatched_and_differences(theirs, ours, floor, BOX_BOUND,
                                         SCORE_BOUND, max_kept)
    max_mask_diff = None
    if forward['max_mask_diff'] is not None:
        max_mask_diff = max(forward['max_mask_diff'],
                            backward['max_mask_diff'])
    masks_same = max_mask_diff is None or max_mask_diff <= MASK_BOUND
    return dict(
        comparison=name, floor=floor, onnxruntime=len(ours['scores']),
        pytorch=len(theirs['scores']),
        checked=forward['checked'] + backward['checked'],
        missing_in_pytorch=forward['missing'],
        missing_in_onnxruntime=backward['missing'],
        max_box_diff=max(forward['max_box_diff'], backward['max_box_diff']),
        max_score_diff=max(forward['max_score_diff'],
                           backward['max_score_diff']),
        max_mask_diff=max_mask_diff, masks_same=masks_same,
        same=not forward['missing'] and not backward['missing']
        and masks_same)


def plain_difference(backend: Sequence[np.ndarray],
                     plain: Sequence[np.ndarray]) -> dict:
    """mmdeploy's backend model against a plain onnxruntime session of the
    same file (outputs dets, labels[, masks]): the same labels, and boxes,
    scores and masks within float32 rounding."""
    same_shapes = len(backend) == len(plain) and all(
        np.shape(ours) == np.shape(theirs)
        for ours, theirs in zip(backend, plain))
    if not same_shapes:
        return dict(same=False, max_diff=float('inf'))
    (dets, labels, *masks), (plain_dets, plain_labels, *plain_masks) = (
        backend, plain)
    max_diff = max(
        float(np.abs(np.asarray(ours) - theirs).max(initial=0.0))
        for ours, theirs in zip([dets, *masks], [plain_dets, *plain_masks]))
    return dict(same=np.array_equal(labels, plain_labels)
                and max_diff <= 1e-5, max_diff=max_diff)


def init_heads(model: torch.nn.Module) -> None:
    """MMDetection's initialisation for everything after the backbone.

    mmdeploy builds a model without ``init_weights()``, which leaves every
    layer at PyTorch's default, far wider than MMDetection's heads start
    (box regression layers: normal, std 0.01 or 0.001). A random detector
    then regresses boxes past the image border, clipped to zero height;
    PyTorch's and onnxruntime's NMS keep other ones among those degenerate
    boxes, and export parity fails on detections that no trained model
    makes. The backbone stays at PyTorch's default (MMDetection's would
    zero every residual branch's last norm, and load pretrained weights),
    and so does a one-stage detector's ``bbox_head``: RetinaNet's starts
    every anchor's score at its 0.01 prior, all within 2e-5 of each other,
    so no detection would stand out of the ties that parity cannot check.
    A head that loads pretrained weights itself (a C4 detector's shared
    head, the backbone's last stage) stays at PyTorch's default as the
    backbone does: random weights fetch nothing.
    """
    for module in model.modules():
        init_cfg = getattr(module, 'init_cfg', None)
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            module.init_cfg = None
    for name, child in model.named_children():
        if name not in ('backbone', 'data_preprocessor',
                        'bbox_head') and hasattr(child, 'init_weights'):
            child.init_weights()


def scale_stem_to_input(model: torch.nn.Module, preprocessor: dict) -> None:
    """Scale the random weights of the backbone's first convolution, per
    input channel, by the config's std over ImageNet's pixel std, so that
    the random detector sees inputs of unit spread whatever the config's
    normalisation (a no-op for MMDetection's mean/std).

    Random weights do not normalise: the Caffe-style configs feed BGR pixels
    less the mean with std 1, 58 times the spread of MMDetection's input,
    and a random detector then drives RPN logits to 30 (sigmoid exactly 1.0
    in float32 for hundreds of anchors) and box deltas to the clip. Ties
    among saturated scores are broken one way by PyTorch and another by
    onnxruntime, so the two pick other proposals and no detection agrees.
    Trained weights expect their input range; a checkpoint is left as is.
    """
    first_conv = next(module for module in model.backbone.modules()
                      if isinstance(module, torch.nn.Conv2d))
    # The preprocessor's std is in its output's channel order: RGB after
    # bgr_to_rgb, else the BGR order images load in.
    rgb = preprocessor.get('bgr_to_rgb', False)
    spread = IMAGENET_STD_RGB if rgb else IMAGENET_STD_RGB[::-1]
    std = preprocessor.get('std') or (1.0, 1.0, 1.0)
    factors = torch.tensor([s / p for s, p in zip(std, spread)])
    with torch.no_grad():
        first_conv.weight.mul_(factors.view(1, -1, 1, 1))


def max_per_img(model_cfg) -> int:
    test_cfg = model_cfg.model.get('test_cfg') or {}
    head_cfg = test_cfg.get('rcnn', test_cfg)
    return int(head_cfg.get('max_per_img', 100))


def deploy(args) -> dict:
    from mmdeploy.apis import build_task_processor, torch2onnx
    from mmdeploy.core import RewriterContext, patch_model
    from mmdeploy.utils import get_backend, get_ir_config
    from mmdeploy.utils import load_config as load_deploy_config

    model_cfg = load_config(args.config, args.cfg_options)
    deploy_cfg_file = args.deploy_cfg or default_deploy_cfg(model_cfg)
    deploy_cfg, model_cfg = load_deploy_config(deploy_cfg_file, model_cfg)
    backend = get_backend(deploy_cfg).value
    if backend != 'onnxruntime':
        raise DeployError(f'deploy-cfg {deploy_cfg_file}: backend {backend}; '
                          'this tool checks onnxruntime models only')
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    checkpoint = args.checkpoint
    if checkpoint is None:
        # Each build initialises its own random weights: the exported, the
        # rewritten and MMDetection's model must share one set.
        torch.manual_seed(0)
        checkpoint = osp.join(work_dir, 'random_weights.pth')
        model = processor.build_pytorch_model()
        init_heads(model)
        scale_stem_to_input(model, model_cfg.model.data_preprocessor)
        torch.save({'state_dict': model.state_dict()}, checkpoint)
    onnx_name = get_ir_config(deploy_cfg).get('save_file', 'end2end.onnx')
    try:
        with mmdeploy_torch_compat():
            torch2onnx(args.image[0], work_dir, onnx_name, deploy_cfg,
                       model_cfg, checkpoint, device='cpu')
    except ExporterUnavailableError as error:
        raise DeployError(str(error)) from None
    except Exception as error:
        raise DeployError(
            f'mmdeploy could not export {args.config} on torch '
            f'{torch.__version__}: {type(error).__name__}: {error}'
        ) from error
    onnx_file = osp.join(work_dir, onnx_name)

    detector = processor.build_pytorch_model(checkpoint)
    # A second copy for mmdeploy's rewritten forward, so that patching
    # cannot touch the model MMDetection runs.
    rewritten = patch_model(
        processor.build_pytorch_model(checkpoint), cfg=deploy_cfg,
        backend=backend)
    runtime = processor.build_backend_model(
        [onnx_file], processor.update_data_preprocessor)
    # The file alone, in onnxruntime without mmdeploy's custom operators,
    # unless it holds some (deformable convolution has no ONNX operator).
    custom = custom_operators(onnx_file)
    plain = None if custom else onnxruntime.InferenceSession(
        onnx_file, providers=['CPUExecutionProvider'])
    max_kept = max_per_img(model_cfg)

    # One run of the test pipeline per image: test_step takes its samples,
    # the raw runs the batch the data preprocessor makes of them, and the
    # first image's are timed.
    samples_per_image = [
        processor.create_input(image)[0] for image in args.image
    ]
    images = []
    for image, samples in zip(args.image, samples_per_image):
        with torch.no_grad():
            data = detector.data_preprocessor(samples, False)
            inputs = data['inputs']
            # dets, labels and, for instance segmentation, masks.
            raw = runtime.predict(inputs)
            plain_outputs = None if plain is None else plain.run(
                None, {plain.get_inputs()[0].name: inputs.numpy()})
            with RewriterContext(cfg=deploy_cfg, backend=backend, opset=11):
                exported = rewritten(inputs, data['data_samples'],
                                     mode='predict')
            ours = runtime.test_step(samples)[0].pred_instances
            theirs = detector.test_step(samples)[0].pred_instances
        results = [
            compare('export', *(
                detections(dets[0, :, :4], dets[0, :, 4], labels[0],
                           *[masks[0] for masks in rest])
                for dets, labels, *rest in (raw, exported)),
                -np.inf, max_kept),
            compare('mmdet',
                    detections(ours.bboxes, ours.scores, ours.labels),
                    detections(theirs.bboxes, theirs.scores, theirs.labels),
                    args.score_thr, max_kept)
        ]
        images.append(
            dict(image=image, input_shape=list(inputs.shape),
                 comparisons=results,
                 plain_onnxruntime=None if custom else plain_difference(
                     [torch.as_tensor(output).numpy() for output in raw],
                     plain_outputs)))

    timed = samples_per_image[0]
    with torch.no_grad():
        torch_seconds = median_seconds(lambda: detector.test_step(timed),
                                       args.repeat)
        ort_seconds = median_seconds(lambda: runtime.test_step(timed),
                                     args.repeat)
    return dict(
        config=args.config, checkpoint=checkpoint,
        cfg_options=args.cfg_options, deploy_cfg=deploy_cfg_file,
        onnx=onnx_file, custom_operators=custom,
        torch_version=torch.__version__, images=images,
        torch_seconds=torch_seconds, onnxruntime_seconds=ort_seconds,
        torch_threads=torch.get_num_threads())


def summary(report: dict, name: str) -> Tuple[int, int]:
    """Checked detections of one comparison over all images, and how many
    of them the other side lacks."""
    rows = [image['comparisons'][INDEX[name]] for image in report['images']]
    checked = sum(row['checked'] for row in rows)
    missing = sum(
        len(row['missing_in_pytorch']) + len(row['missing_in_onnxruntime'])
        for row in rows)
    return checked, missing


def masks_same(report: dict) -> bool:
    """Whether every export comparison's matched masks are the same (true
    without masks)."""
    return all(image['comparisons'][INDEX['export']]['masks_same']
               for image in report['images'])


def mask_diff(row: dict) -> str:
    return '-' if row['max_mask_diff'] is None else \
        f'{row["max_mask_diff"]:.3g}'


def print_report(report: dict, repeat: int) -> None:
    print(f'{report["onnx"]}: mmdeploy, torch {report["torch_version"]}; '
          f'the same detection: label, box within {BOX_BOUND:g} px, score '
          f'within {SCORE_BOUND:g}')
    print('| image | input | onnxruntime against | detections ORT / '
          'PyTorch | checked | not on the other side | max box diff (px) |'
          ' max score diff | max mask diff |')
    print('|---|---|---|---|---|---|---|---|---|')
    for image in report['images']:
        for row in image['comparisons']:
            missing = (len(row['missing_in_pytorch']) +
                       len(row['missing_in_onnxruntime']))
            print(f'| {osp.basename(image["image"])} | '
                  f'{image["input_shape"][2:]} | '
                  f'{AGAINST[row["comparison"]]} | '
                  f'{row["onnxruntime"]} / {row["pytorch"]} | '
                  f'{row["checked"]} | {missing} | '
                  f'{row["max_box_diff"]:.3g} | '
                  f'{row["max_score_diff"]:.3g} | '
                  f'{mask_diff(row)} |')
    for name in ('export', 'mmdet'):
        checked, missing = summary(report, name)
        print(f'{AGAINST[name]}: {checked - missing} of {checked} checked '
              'detections the same')
    if not masks_same(report):
        print(f'export parity: mask probabilities differ by more than '
              f'{MASK_BOUND:g} (max mask diff)')
    custom = report['custom_operators']
    if custom:
        print('plain onnxruntime, without mmdeploy\'s custom operators: '
              f'not run, the file holds {", ".join(custom)}')
    else:
        plain = [image['plain_onnxruntime'] for image in report['images']]
        print('plain onnxruntime, without mmdeploy\'s custom operators: '
              f'{sum(row["same"] for row in plain)} of {len(plain)} images '
              'give the same outputs (largest difference '
              f'{max(row["max_diff"] for row in plain):.3g})')
    torch_ms = report['torch_seconds'] * 1000
    ort_ms = report['onnxruntime_seconds'] * 1000
    print(f'latency of test_step on the first image (median of {repeat}): '
          f'PyTorch {torch_ms:.1f} ms, onnxruntime {ort_ms:.1f} ms '
          f'({ort_ms / torch_ms:.2f}x)')


def main() -> int:
    args = parse_args()
    if args.unsafe_load:
        allow_unsafe_load()
    try:
        require_mmdeploy()
        report = deploy(args)
    except DeployError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    with open(osp.join(osp.abspath(args.work_dir), 'report.json'),
              'w') as file:
        json.dump(report, file, indent=2)
    print_report(report, args.repeat)
    if summary(report, 'export')[1] or not masks_same(report):
        print('error: the ONNX file does not compute what the model '
              'computes in PyTorch (see the table)', file=sys.stderr)
        return 1
    custom = report['custom_operators']
    if custom:
        print(f'error: {report["onnx"]} holds operators of mmdeploy\'s '
              f'custom-op library ({", ".join(custom)}), so a plain '
              'onnxruntime cannot run it; register the library with '
              'onnxruntime (SessionOptions.register_custom_ops_library of '
              'mmdeploy.backend.onnxruntime.init_plugins.get_ops_path()), '
              'or deploy a config without deformable convolution '
              '(dcn=None)',
              file=sys.stderr)
        return 1
    if not all(image['plain_onnxruntime']['same']
               for image in report['images']):
        print('error: a plain onnxruntime, without mmdeploy\'s custom '
              'operators, does not compute what mmdeploy\'s backend model '
              'computes (report.json, plain_onnxruntime)', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
