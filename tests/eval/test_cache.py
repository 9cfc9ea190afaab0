import json

from eval.cache import CachedBackend
from tests.helpers import ScriptedBackend

MSGS = [{"role": "user", "content": "hello"}]


def test_cache_hits_on_rerun_and_keys(tmp_path):
    inner = ScriptedBackend(["one", "two", "three"])
    cached = CachedBackend(inner, tmp_path)
    assert cached.generate(MSGS, max_tokens=8).text == "one"
    assert cached.generate(MSGS, max_tokens=8).text == "one"  # replayed, the model is not called again
    assert len(inner.calls) == 1 and cached.stats() == {"hits": 1, "misses": 1}
    # other params / other salt are other requests
    assert cached.generate(MSGS, max_tokens=16).text == "two"
    assert CachedBackend(inner, tmp_path, salt="seed=1").generate(MSGS, max_tokens=8).text == "three"
    # a fresh wrapper on the same folder (a re-run) hits the disk
    again = CachedBackend(ScriptedBackend(["never"]), tmp_path)
    assert again.generate(MSGS, max_tokens=8).text == "one"
    assert again.stats() == {"hits": 1, "misses": 0}


def test_cache_batch_only_sends_misses(tmp_path):
    inner = ScriptedBackend(lambda m: m[-1]["content"].upper())
    cached = CachedBackend(inner, tmp_path)
    cached.generate([{"role": "user", "content": "a"}])
    out = cached.generate_batch([[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]])
    assert [g.text for g in out] == ["A", "B"]
    assert len(inner.calls) == 2 and cached.stats() == {"hits": 1, "misses": 2}


def test_corrupt_entry_is_a_miss(tmp_path):
    inner = ScriptedBackend(["x", "y"])
    cached = CachedBackend(inner, tmp_path)
    cached.generate(MSGS)
    [entry] = list(tmp_path.rglob("*.json"))
    entry.write_text("{not json")
    assert cached.generate(MSGS).text == "y"
    assert json.loads(entry.read_text())["text"] == "y"


def test_cached_student_keeps_its_trained_prompt_style(tmp_path):
    """The eval wraps every manager in the cache: a student trained on the student prompt (its manager card) must
    still get that prompt through the wrapper, not Mem0's teacher prompt."""
    from memmgr import Memory, MemoryConfig
    from memmgr.prompts import EXTRACTION_SYSTEM_STUDENT, EXTRACTION_SYSTEM_TEACHER
    from memmgr.types import Message

    inner = ScriptedBackend(['{"facts": []}'])
    inner.prompt_style = "student"
    mem = Memory(MemoryConfig.load({"embedder": {"provider": "hash"}}), manager=CachedBackend(inner, tmp_path))
    mem.add([Message(role="user", name="Maya", content="I adopted a dog.")], user_id="maya")
    assert inner.calls[0][0]["content"] == EXTRACTION_SYSTEM_STUDENT
    untrained = ScriptedBackend(['{"facts": []}'])  # no card: the teacher prompt
    Memory(MemoryConfig.load({"embedder": {"provider": "hash"}}), manager=CachedBackend(untrained, tmp_path / "u")) \
        .add([Message(role="user", name="Maya", content="I adopted a dog.")], user_id="maya")
    assert untrained.calls[0][0]["content"] == EXTRACTION_SYSTEM_TEACHER


def test_forced_prefix_is_part_of_the_key_and_scoring_passes_through(tmp_path):
    """The extract/skip gate through the eval's cache: a forced opening is another request, and the gate's scoring
    pass reaches the model (uncached)."""
    class Prefixed(ScriptedBackend):
        def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None, prefix=None):
            self.prefixes = [*getattr(self, "prefixes", []), prefix]
            return super().generate(messages)

        def completion_prob(self, messages, completion, *, return_tokens=False):
            return (0.25, 3) if return_tokens else 0.25

    inner = Prefixed(["plain", "forced"])
    cached = CachedBackend(inner, tmp_path)
    assert cached.generate(MSGS).text == "plain"
    assert cached.generate(MSGS, prefix='{"facts": ["').text == "forced"
    assert cached.generate(MSGS, prefix='{"facts": ["').text == "forced" and len(inner.calls) == 2
    assert inner.prefixes == [None, '{"facts": ["']
    assert cached.completion_prob(MSGS, "x", return_tokens=True) == (0.25, 3)
