# make install: create .venv/ and install the pinned stack into it (once).
# make test:    run the test suite (what .ci/run runs).
# make demo:    train Faster R-CNN SE-ResNet-18 FPN on the generated toy
#               shapes on CPU, then print its COCO AP (work_dirs/demo/).
# make demo-mask: the same with Mask R-CNN (bbox and segm AP).
# make bench:   SE-ResNet-50 vs ResNet-50 (and mmpretrain's SEResNet-50):
#               CPU time and memory ratios, FLOPs; JSON in work_dirs/.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
PIP := $(VENV_PYTHON) -m pip
# Written last by a successful install; make rebuilds only when it is older
# than one of these files, so a second `make install` does nothing.
INSTALLED := $(VENV)/.installed
REQUIREMENTS := requirements.txt $(wildcard requirements/*.txt) pyproject.toml

TOY := configs/toy
DEMO_CONFIG := $(TOY)/faster-rcnn_se-r18_fpn-lean_8e_toy-shapes.py
DEMO_MASK_CONFIG := $(TOY)/mask-rcnn_se-r18_fpn-lean_8e_toy-shapes.py

.PHONY: install test demo demo-mask bench clean

install: $(INSTALLED)

# Order matters: torch first; mmcv last, compiled against that torch without
# build isolation (9-14 min on 2 cores the first time; pip caches the wheel,
# so later installs take seconds). This checkout goes on the venv's path
# through a .pth file rather than `pip install -e .`: an editable install
# puts its metadata in site-packages, where mmengine then looks for the
# shipped configs, and `senet_mmdet::` bases would not resolve.

$(INSTALLED): $(REQUIREMENTS)
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements/build.txt
	$(PIP) install -r requirements/torch.txt
	$(PIP) install -r requirements.txt -r requirements/tests.txt
	MAX_JOBS=$$(nproc) $(PIP) install --no-build-isolation -r requirements/mmcv.txt
	echo "$(CURDIR)" > "$$($(VENV_PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/senet_mmdet.pth"
	$(VENV_PYTHON) tools/check_install.py
	touch $@

test: install
	$(VENV_PYTHON) -m pytest tests

# Training ends with a COCO evaluation of the val split; tools/test.py then
# evaluates the final checkpoint again and writes test_metrics.json.
demo: install
	$(VENV_PYTHON) tools/train.py $(DEMO_CONFIG) --work-dir work_dirs/demo
	$(VENV_PYTHON) tools/test.py $(DEMO_CONFIG) work_dirs/demo/epoch_8.pth \
		--work-dir work_dirs/demo

demo-mask: install
	$(VENV_PYTHON) tools/train.py $(DEMO_MASK_CONFIG) \
		--work-dir work_dirs/demo_mask
	$(VENV_PYTHON) tools/test.py $(DEMO_MASK_CONFIG) \
		work_dirs/demo_mask/epoch_8.pth --work-dir work_dirs/demo_mask

bench: install
	$(VENV_PYTHON) tools/analysis/benchmark.py --out work_dirs/benchmark.json

clean:
	rm -rf $(VENV) build *.egg-info
