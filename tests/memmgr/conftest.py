import pytest

from memmgr import Memory, MemoryConfig
from tests.helpers import ScriptedBackend


@pytest.fixture
def make_memory(tmp_path):
    """Memory with the hashing embedder and a scripted manager; `path=True` puts the stores on disk."""
    made = []

    def _make(responses, *, path: bool = False, **overrides):
        cfg = {"embedder": {"provider": "hash"}, **overrides}
        if path:
            cfg["store"] = {"path": str(tmp_path / "store")}
        mem = Memory(MemoryConfig.load(cfg), manager=ScriptedBackend(responses))
        made.append(mem)
        return mem

    yield _make
    for m in made:
        try:
            m.close()
        except Exception:
            pass
