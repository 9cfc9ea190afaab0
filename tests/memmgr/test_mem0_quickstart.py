"""mem0 1.0.x's quick-start, run unchanged against memmgr.Memory (issue 15).

Two things differ from mem0's docs and both are test plumbing: the embedder is memmgr's dependency-free "hash"
(the docs' huggingface one would load a model), and `from_config(config, manager=...)` injects the scripted
manager in place of the OpenAI model named by `llm` (no network). Everything after `from_config` is mem0 code.
"""

from memmgr import Memory
from tests.helpers import ScriptedBackend, echo_manager


def quickstart(m, memory_id_out):
    messages = [
        {"role": "user", "content": "I'm planning to watch a movie tonight. Any recommendations?"},
        {"role": "assistant", "content": "How about thriller movies? They can be quite engaging."},
        {"role": "user", "content": "I'm not a big fan of thriller movies but I love sci-fi movies."},
        {"role": "assistant", "content": "Got it! I'll avoid thriller recommendations and suggest sci-fi movies."},
    ]
    result = m.add(messages, user_id="alice", metadata={"category": "movie_recommendations"})
    assert result["results"] and all(r["event"] == "ADD" for r in result["results"])

    m.add("I'm allergic to peanuts", user_id="bob")
    related = m.search("What movies does alice like?", user_id="alice",
                       filters={"category": "movie_recommendations"}, limit=3)
    assert 0 < len(related["results"]) <= 3
    assert all(r["user_id"] == "alice" and r["metadata"] == {"category": "movie_recommendations"}
               for r in related["results"])

    all_memories = m.get_all(user_id="alice")
    memory_id = all_memories["results"][0]["id"]
    memory_id_out.append(memory_id)
    assert m.get(memory_id)["memory"] == all_memories["results"][0]["memory"]

    out = m.update(memory_id=memory_id, data="Alice loves sci-fi movies", metadata={"category": "movies"})
    assert out["message"] == "Memory updated successfully!"
    history = m.history(memory_id=memory_id)
    assert [h["event"] for h in history] == ["ADD", "UPDATE"]
    assert history[-1]["new_memory"] == "Alice loves sci-fi movies"
    return len(all_memories["results"])


def test_mem0_quickstart_runs_unchanged(tmp_path):
    config = {
        "llm": {"provider": "openai", "config": {"model": "gpt-4.1-nano-2025-04-14", "temperature": 0.1,
                                                 "max_tokens": 2000}},
        "embedder": {"provider": "hash", "config": {"embedding_dims": 384}},
        "vector_store": {"provider": "qdrant", "config": {"collection_name": "test", "path": str(tmp_path / "qdrant"),
                                                          "embedding_model_dims": 384, "on_disk": True}},
        "history_db_path": str(tmp_path / "history.db"),
        "version": "v1.1",
    }
    ids: list[str] = []
    with Memory.from_config(config, manager=ScriptedBackend(echo_manager)) as m:
        n_alice = quickstart(m, ids)
        assert m.config.manager.model == "gpt-4.1-nano-2025-04-14" and m.config.manager.backend == "openai"

    # persisted: a new process finds alice's memories (the SQLite at history_db_path is the truth)
    with Memory.from_config(config, manager=ScriptedBackend(echo_manager)) as m:
        assert len(m.get_all(user_id="alice")["results"]) == n_alice
        assert m.get(ids[0])["memory"] == "Alice loves sci-fi movies"
        assert m.search("sci-fi", user_id="alice")["results"][0]["id"] == ids[0]
        assert m.delete(memory_id=ids[0])["message"] == "Memory deleted successfully!"
        assert m.delete_all(user_id="alice")["message"] == "Memories deleted successfully!"
        assert m.get_all(user_id="alice")["results"] == []
        assert len(m.get_all(user_id="bob")["results"]) == 1  # delete_all(user_id="alice") left bob alone
        m.reset()
        assert m.get_all(user_id="bob")["results"] == []
