import os
import random
import shutil

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
LOCOMO_DEV = os.path.normpath(os.path.join(SHARED, "data", "locomo", "locomo_dev.json"))


try:  # seeded property-based tests: the same cases on every run (CI and local)
    from hypothesis import settings

    settings.register_profile("memmgr", derandomize=True, print_blob=True)
    settings.load_profile("memmgr")
except ImportError:  # hypothesis is a dev extra
    pass


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)


@pytest.fixture
def locomo_dev_path():
    if not os.path.exists(LOCOMO_DEV):
        pytest.skip(f"LOCOMO dev split not found at {LOCOMO_DEV} (../shared is absent in this checkout)")
    return LOCOMO_DEV


def pytest_collection_modifyitems(config, items):
    has_gpu = False
    if shutil.which("nvidia-smi"):  # only then pay for importing torch
        try:
            import torch

            has_gpu = torch.cuda.is_available()
        except Exception:
            has_gpu = False
    if not has_gpu:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
