# make install: create .venv/ and install the pinned stack into it (once).
# make test:    run the test suite (what .ci/run runs).
# make demo:    parameter counts against the paper's, and an inference
#               example with the flagship config.
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

.PHONY: install test demo bench clean

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

demo: install
	$(VENV_PYTHON) tools/analysis/count_params.py
	$(VENV_PYTHON) tools/demo.py

bench: install
	$(VENV_PYTHON) tools/analysis/benchmark.py --out work_dirs/benchmark.json

clean:
	rm -rf $(VENV) build *.egg-info
