"""Engine tests (`@pytest.mark.vllm`) run vLLM in .venv-vllm through subprocesses; without it they skip."""

from __future__ import annotations

import pytest

from tests.serving.fixtures import vllm_python

NO_VLLM = "needs the vLLM venv: `make setup-vllm` (creates .venv-vllm) or set MEMMGR_VLLM_PYTHON"


def pytest_collection_modifyitems(config, items):
    if vllm_python():
        return
    skip = pytest.mark.skip(reason=NO_VLLM)
    for item in items:
        if "vllm" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def vllm_py() -> str:
    py = vllm_python()
    if not py:
        pytest.skip(NO_VLLM)
    return py


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory) -> dict:
    """The tiny random model and a LoRA adapter on it with a student manager card (built in the main venv)."""
    pytest.importorskip("peft")
    from tests.serving.fixtures import build_tiny_adapter
    from tests.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("serving")
    model = build_tiny_model(root / "model")
    return {"model": model, "adapter": build_tiny_adapter(model, root / "adapter")}
