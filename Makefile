# The README's two commands: `make demo` (set up + run the main job) and `make test` (set up + run the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
export OMP_NUM_THREADS ?= 2
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo demo-quick test test-fast lint bench

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

setup: $(VENV)/.installed

demo: setup  ## traces -> LoRA SFT of SmolLM2-135M -> base vs fine-tuned eval -> report (2-core CPU: ~26 min)
	$(PY) -m experiments.distill --config configs/main/smollm2_cpu.yaml

demo-quick: setup  ## the same code path with small sizes (2-core CPU: ~5-6.5 min after setup)
	$(PY) -m experiments.distill --config configs/main/smollm2_cpu.yaml --quick

test: setup  ## the whole suite (fast tests + slow real-model tests)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q

test-fast: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) benchmarks/pipeline_overhead.py
	$(PY) benchmarks/adversarial.py
