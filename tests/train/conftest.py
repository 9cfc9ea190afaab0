"""Session fixtures for the training tests: the tiny model and a small trace dataset, built once per run."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    pytest.importorskip("transformers")
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def trace_dataset_dir(tmp_path_factory) -> str:
    pytest.importorskip("datasets")
    from tests.train.fixtures import build_fixture_dataset

    return build_fixture_dataset(tmp_path_factory.mktemp("traces"))
