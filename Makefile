# make install: create .venv/ and install the pinned stack into it (once).
# make test:    run the test suite but the launchers (what .ci/run runs).
# make test-quick: the tests that train nothing in a subprocess (marker
#               slow left out): the loop while editing, under 3 min.
# make test-launchers: tools/dist_*.sh as two torchrun nodes and
#               tools/slurm_*.sh on a local Slurm cluster (needs slurm-wlm
#               and munge: .ci/run installs them), a rank killed on each;
#               both rehearsals of tools/reproduce_paper.py and
#               tools/analysis/compare.py's whole run; and the trainings
#               with MMDetection's own tools/train.py.
# make paper-rehearsal: tools/reproduce_paper.py end to end on CPU: the
#               Table 7 configs shrunk, on a miniature COCO that the test
#               writes; 4 runs trained under torchrun (one stopped by
#               SIGTERM and resumed by running the command again), tested,
#               and tabulated beside the paper (target: under 10 min on
#               2 cores; docs/benchmarks.md has the measured time).
# make demo:    train Faster R-CNN SE-ResNet-18 FPN on the generated toy
#               shapes on CPU, then print its COCO AP (work_dirs/demo/).
#               It ends by drawing 4 val images, ground truth beside the
#               prediction, into work_dirs/demo/predictions/.
#               make demo DEMO_PYTHON=python: the same with an interpreter
#               of your own (a pip install), building nothing.
# make demo-mask: the same with Mask R-CNN (bbox and segm AP).
# make excitation: the paper's excitation analysis (Fig. 6/7, class
#               specificity per SE block) of the make-demo checkpoint.
# make compare: ResNet-18 vs SE-ResNet-18 on the toy protocol, SEEDS seeds
#               each (default 3): one table and one curve figure
#               (work_dirs/compare/); a second run resumes.
# make trees:   the worked example on real images: fetch DeepForest's NEON
#               tree-crown images through pip, convert and tile them
#               (data/neon_trees/), train SE-ResNet-18 Faster R-CNN on CPU
#               from scratch, evaluate COCO AP on the held-out image and
#               draw it beside the ground truth (work_dirs/trees/).
# make compare-trees: ResNet-18 vs SE-ResNet-18 on the trees protocol,
#               SEEDS seeds each (work_dirs/compare_trees/); resumes.
# make bench:   SE-ResNet-50 vs ResNet-50 (and mmpretrain's SEResNet-50):
#               CPU time (eager and torch.compile) and memory ratios,
#               FLOPs; JSON in work_dirs/ (about 19 min).
# make install-torch21: the second tested stack in .venv-torch21/: torch
#               2.1.2, mmcv 2.1.0 compiled against it, mmdeploy 1.3.1.
# make test-torch21: the tests named in TORCH21_TESTS on that stack, the
#               whole-detector mmdeploy export among them (.ci/run runs it).
SHELL := /bin/bash
# The interpreter: PYTHON=python3.12 names one; unset, the newest of
# python3.13 ... python3.10, python3 on PATH that runs is used
# (tools/install/python.sh, which also refuses a .venv/ made by another).
# PYTHONS is the range the pinned stack is tested on (docs/installation.md).
PYTHON ?=
# Only the install sees it: tools/*.sh and their tests read PYTHON too.
unexport PYTHON
PYTHONS := 3.10 3.13
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
PIP := $(VENV_PYTHON) -m pip
VENV_SETUP := PYTHON="$(PYTHON)" tools/install/python.sh venv
# Compiles mmcv against the venv's torch once per Python and torch (the
# wheel is kept in ~/.cache/senet_mmdet/mmcv-wheels) and installs it; it
# fixes mmcv 2.1.0's setup.py for Python 3.13.
MMCV_WHEEL := tools/install/mmcv_wheel.py
# Written last by a successful install; make rebuilds only when it is older
# than one of these files, so a second `make install` does nothing.
INSTALLED := $(VENV)/.installed
REQUIREMENTS := requirements.txt $(wildcard requirements/*.txt) pyproject.toml

TOY := configs/toy
DEMO_CONFIG := $(TOY)/faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py
DEMO_MASK_CONFIG := $(TOY)/mask-rcnn_se-r18_fpn-lean_8e_toy-shapes.py

DEMO_CHECKPOINT := work_dirs/demo/epoch_8.pth
TOY_VAL := data/toy_shapes/val
TOY_VAL_ANN := data/toy_shapes/annotations/instances_val.json
SEEDS ?= 3

.PHONY: install test test-quick test-launchers demo demo-mask excitation \
	compare bench clean install-torch21 test-torch21 trees trees-data \
	compare-trees paper-rehearsal

# A finished venv is up to date by its timestamp alone: this check refuses
# one made by another Python than PYTHON names.
install: $(INSTALLED)
	@$(VENV_SETUP) $(VENV) $(PYTHONS)

# Order matters: torch first; mmcv last, compiled against that torch without
# build isolation (9-14 min on 2 cores the first time; later installs take
# seconds from the wheel cache). This checkout goes on the venv's path
# through a .pth file rather than `pip install -e .`: an editable install
# puts its metadata in site-packages, where mmengine then looks for the
# shipped configs, and `senet_mmdet::` bases would not resolve.

$(INSTALLED): $(REQUIREMENTS)
	$(VENV_SETUP) $(VENV) $(PYTHONS)
	$(PIP) install -r requirements/build.txt
	$(PIP) install -r requirements/torch.txt
	$(PIP) install -r requirements.txt -r requirements/optional.txt \
		-r requirements/tests.txt -r requirements/deploy.txt
	$(PIP) install --no-deps -r requirements/tests-nodeps.txt \
		-r requirements/deploy-nodeps.txt
	$(VENV_PYTHON) $(MMCV_WHEEL)
	echo "$(CURDIR)" > "$$($(VENV_PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/senet_mmdet.pth"
	$(VENV_PYTHON) tools/check_install.py
	touch $@

# Two pytest processes (pytest-xdist), each running one test file at a time
# (a file's tests share its fixtures) with one torch thread, so that one
# process's imports and subprocess start-ups overlap the other's arithmetic:
# on 2 cores the suite took 596 s this way and 956 s in one process.
TEST_WORKERS ?= 2
PYTEST := OMP_NUM_THREADS=1 $(VENV_PYTHON) -m pytest

test: install
	$(PYTEST) tests -n $(TEST_WORKERS) --dist loadfile -m "not launchers"

test-quick: install
	$(PYTEST) tests -n $(TEST_WORKERS) --dist loadfile \
		-m "not slow and not launchers"

# One process: each test starts 2 ranks of its own.
test-launchers: install
	$(PYTEST) tests -m launchers

paper-rehearsal: install
	$(PYTEST) tests/test_tools/test_reproduce_paper.py -m launchers \
		-k torchrun

# Training ends with a COCO evaluation of the val split; tools/test.py then
# evaluates the final checkpoint again and writes test_metrics.json.
# DEMO_PYTHON names another interpreter, whose environment the user has
# installed (docs/installation.md): then .venv/ is neither built nor used.
DEMO_PYTHON ?= $(VENV_PYTHON)
demo: $(if $(filter $(VENV_PYTHON),$(DEMO_PYTHON)),install)
	$(DEMO_PYTHON) tools/train.py $(DEMO_CONFIG) --work-dir work_dirs/demo \
		--auto-scale-lr
	$(DEMO_PYTHON) tools/test.py $(DEMO_CONFIG) $(DEMO_CHECKPOINT) \
		--work-dir work_dirs/demo
	$(DEMO_PYTHON) tools/demo.py $(TOY_VAL) $(DEMO_CONFIG) $(DEMO_CHECKPOINT) \
		--num 4 --gt $(TOY_VAL_ANN) --out work_dirs/demo/predictions

excitation: install
	test -f $(DEMO_CHECKPOINT) || $(MAKE) demo
	$(VENV_PYTHON) tools/analysis/excitation.py $(DEMO_CONFIG) \
		$(DEMO_CHECKPOINT) --out work_dirs/demo/excitation

compare: install
	$(VENV_PYTHON) tools/analysis/compare.py --seeds $(SEEDS) \
		--work-dir work_dirs/compare

# The NEON tree crowns that DeepForest 2.1.0 (MIT) ships in its wheel:
# four annotated aerial images; one is held out whole for evaluation.
DEEPFOREST := data/deepforest
DEEPFOREST_DATA := $(DEEPFOREST)/deepforest/data
TREES_DATA := data/neon_trees
TREES_TRAIN_ANN := $(TREES_DATA)/annotations/instances_train.json
TREES_VAL_IMAGE := 2019_YELL_2_541000_4977000_image_crop.png
TREES_CONFIG := configs/trees/faster-rcnn_se-r18_fpn-lean_8e_neon-trees.py
TREES_CHECKPOINT := work_dirs/trees/epoch_8.pth

trees-data: $(TREES_TRAIN_ANN)

$(TREES_TRAIN_ANN): | install
	$(PIP) download --no-deps deepforest==2.1.0 -d $(DEEPFOREST)
	$(VENV_PYTHON) -m zipfile -e $(DEEPFOREST)/deepforest-2.1.0-py3-none-any.whl \
		$(DEEPFOREST)
	$(VENV_PYTHON) tools/dataset_converters/to_coco.py voc $(DEEPFOREST_DATA) \
		--classes Tree --map Alive=Tree Dead=Tree \
		--out $(TREES_DATA)/annotations/all.json
	$(VENV_PYTHON) tools/dataset_converters/tile_coco.py \
		$(TREES_DATA)/annotations/all.json $(DEEPFOREST_DATA) $(TREES_DATA) \
		--val $(TREES_VAL_IMAGE) --size 256 --overlap 0.5

trees: install trees-data
	$(VENV_PYTHON) tools/train.py $(TREES_CONFIG) --work-dir work_dirs/trees
	$(VENV_PYTHON) tools/test.py $(TREES_CONFIG) $(TREES_CHECKPOINT) \
		--work-dir work_dirs/trees
	$(VENV_PYTHON) tools/demo.py $(TREES_DATA)/val/$(TREES_VAL_IMAGE) \
		$(TREES_CONFIG) $(TREES_CHECKPOINT) --score-thr 0.5 \
		--gt $(TREES_DATA)/annotations/instances_val.json \
		--out work_dirs/trees/held_out_prediction.png

compare-trees: install trees-data
	$(VENV_PYTHON) tools/analysis/compare.py --protocol trees --seeds $(SEEDS) \
		--work-dir work_dirs/compare_trees

demo-mask: install
	$(VENV_PYTHON) tools/train.py $(DEMO_MASK_CONFIG) \
		--work-dir work_dirs/demo_mask
	$(VENV_PYTHON) tools/test.py $(DEMO_MASK_CONFIG) \
		work_dirs/demo_mask/epoch_8.pth --work-dir work_dirs/demo_mask

bench: install
	$(VENV_PYTHON) tools/analysis/benchmark.py --out work_dirs/benchmark.json

# The torch 2.1 stack. torch 2.1.2 has wheels for Python <= 3.11. Its mmcv
# build is cached apart from the torch 2.13 one (the cache is keyed by torch).
PYTHONS21 := 3.10 3.11
VENV21 ?= .venv-torch21
VENV21_PYTHON := $(VENV21)/bin/python
PIP21 := $(VENV21_PYTHON) -m pip
INSTALLED21 := $(VENV21)/.installed
REQUIREMENTS21 := requirements.txt requirements/build.txt \
	requirements/mmcv.txt $(wildcard requirements/torch21/*.txt)
# What the torch 2.1 stack runs: the backbones, the SE layer and its fused
# step, the checkpoint loading and saving, every config, a short training
# and test through our tools, and the mmdeploy export.
TORCH21_TESTS := tests/test_models tests/test_engine tests/test_configs \
	tests/test_registry.py tests/test_tools/test_train_test.py \
	tests/test_tools/test_mmdeploy.py tests/test_apis/test_deployment.py

install-torch21: $(INSTALLED21)
	@$(VENV_SETUP) $(VENV21) $(PYTHONS21)

$(INSTALLED21): $(REQUIREMENTS21)
	$(VENV_SETUP) $(VENV21) $(PYTHONS21)
	$(PIP21) install -r requirements/build.txt
	$(PIP21) install -r requirements/torch21/torch.txt
	$(PIP21) install -r requirements/torch21/torch.txt -r requirements.txt \
		-r requirements/torch21/optional.txt \
		-r requirements/torch21/deploy.txt -r requirements/torch21/tests.txt
	$(VENV21_PYTHON) $(MMCV_WHEEL)
	echo "$(CURDIR)" > "$$($(VENV21_PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/senet_mmdet.pth"
	$(VENV21_PYTHON) tools/check_install.py
	touch $@

test-torch21: install-torch21
	$(VENV21_PYTHON) -m pytest $(TORCH21_TESTS)

clean:
	rm -rf $(VENV) $(VENV21) build *.egg-info
