"""Graph memory (Mem0g) through the Memory API with a scripted graph manager and the embedded FalkorDB."""

from __future__ import annotations

import json

import pytest

from memmgr import Memory, MemoryConfig
from memmgr.graph.tables import event_time
from tests.memmgr.graph_helpers import T0, T1, T2, GraphScript, ents, graph_memory, inval, rels, say


@pytest.fixture
def made():
    mems: list[Memory] = []
    yield mems
    for m in mems:
        m.close()


def _moving_maya(made, **graph):
    """Maya lives in Porto (T0), then moves to Lisbon (T1): the second add invalidates the first relation."""
    script = GraphScript(
        graph_entities=[ents(("Maya", "person"), ("Porto", "city")), ents(("Maya", "person"), ("Lisbon", "city"))],
        graph_relations=[rels(("Maya", "lives_in", "Porto")), rels(("Maya", "lives_in", "Lisbon"))],
        graph_resolve=[inval("0")],
    )
    mem = graph_memory(script, **graph)
    made.append(mem)
    calls = []
    mem.trace_hooks.append(calls.append)
    first = mem.add(say("I live in Porto."), user_id="maya", timestamp=T0)
    second = mem.add(say("I just moved to Lisbon!", mid="D2:1"), user_id="maya", timestamp=T1)
    return mem, script, calls, first, second


def test_extraction_relations_and_conflict_resolution(made):
    mem, script, calls, first, second = _moving_maya(made)
    assert [c.stage for c in calls] == ["graph_entities", "graph_relations",
                                        "graph_entities", "graph_relations", "graph_resolve"]
    assert all(c.valid and not c.rejected for c in calls)
    assert first["results"] == [] and "relations" in first  # graph only: no vector memories
    assert [(r["source"], r["relationship"], r["destination"]) for r in first["relations"]["added_entities"]] == [
        ("Maya", "lives_in", "Porto")]
    assert [r["destination"] for r in second["relations"]["added_entities"]] == ["Lisbon"]
    gone = second["relations"]["deleted_entities"]
    assert [(r["destination"], r["valid"], r["invalidated_at"]) for r in gone] == [("Porto", False, event_time(T1))]
    # the resolve prompt showed the stored relation under a small id, and the new triple
    resolve = [s for s in script.seen if s["stage"] == "graph_resolve"][0]
    assert resolve["existing"] == [("0", ("Maya", "lives_in", "Porto"))]
    assert resolve["relations"] == [("Maya", "lives_in", "Lisbon")]
    # both changing calls are undoable ids, provenance is on the edges
    assert second["call_ids"] == [calls[3].call_id, calls[4].call_id]
    lisbon = mem.graph.get_all(mem_scope("maya"))[0]
    assert lisbon["destination"] == "Lisbon" and mem.graph.tables.relations(ids=[lisbon["id"]])[0].source_ids == [
        "D2:1"]


def mem_scope(user):
    from memmgr.types import Scope

    return Scope(user_id=user)


def test_soft_invalidation_history_default_retrieval_and_as_of(made):
    mem, *_ = _moving_maya(made)
    now = mem.search("Where does Maya live?", user_id="maya")["relations"]
    assert [r["destination"] for r in now] == ["Lisbon"]
    everything = mem.graph.get_all(mem_scope("maya"), include_invalid=True)
    porto = next(r for r in everything if r["destination"] == "Porto")
    assert porto["valid"] is False and porto["invalidated_at"] == "2023-05-08T00:00:00"
    hist = mem.graph.history(porto["id"])
    assert [h["event"] for h in hist] == ["ADD", "INVALIDATE"]
    assert hist[1]["new"] == {"valid": False, "invalidated_at": "2023-05-08T00:00:00"}
    assert hist[1]["actor"] == "scripted/teacher" and hist[1]["source_ids"] == ["D2:1"]
    scope = mem_scope("maya")
    past = mem.graph.search("Where does Maya live?", scope, as_of="2023-03-01")
    assert [(r["destination"], r["valid"]) for r in past] == [("Porto", False)]
    assert [r["destination"] for r in mem.graph.search("Maya", scope, as_of=T2)] == ["Lisbon"]
    assert mem.graph.search("Maya", scope, as_of="2022-12-31") == []  # before anything was said


def test_entity_merge_by_embedding_threshold(made):
    def run(threshold):
        script = GraphScript(
            graph_entities=[ents(("Maya", "person"), ("jazz", "music")),
                            ents(("Maya Silva", "person"), ("Lisbon", "city"))],
            graph_relations=[rels(("Maya", "likes", "jazz")), rels(("Maya Silva", "lives_in", "Lisbon"))])
        mem = graph_memory(script, entity_threshold=threshold)
        made.append(mem)
        mem.add(say("I love jazz."), user_id="maya", timestamp=T0)
        out = mem.add(say("I'm Maya Silva and I live in Lisbon."), user_id="maya", timestamp=T1)
        return mem, out

    # the hashing embedder puts "Maya" and "Maya Silva" at cosine ~0.58
    mem, out = run(0.5)
    names = sorted(e.name for e in mem.graph.tables.entities())
    assert names == ["Lisbon", "Maya", "jazz"]
    maya = next(e for e in mem.graph.tables.entities() if e.name == "Maya")
    assert maya.aliases == ["Maya Silva"]
    assert out["relations"]["added_entities"][0]["source"] == "Maya"  # stored under the merged entity
    assert [h["event"] for h in mem.graph.history(maya.id)] == ["ADD", "MERGE"]
    # the alias now resolves directly: "Maya Silva" in a query reaches Maya's neighbourhood
    hits = mem.search("What does Maya Silva like?", user_id="maya")["relations"]
    assert {r["destination"] for r in hits if "entity" in r["matched_by"]} == {"jazz", "Lisbon"}
    strict, _ = run(0.9)
    assert sorted(e.name for e in strict.graph.tables.entities()) == ["Lisbon", "Maya", "Maya Silva", "jazz"]


def test_entity_centric_and_triplet_retrieval(made):
    script = GraphScript(
        graph_entities=[ents(("Maya", "person"), ("Lisbon", "city"), ("Rex", "pet"), ("Porto", "city"))],
        graph_relations=[rels(("Maya", "lives_in", "Lisbon"), ("Maya", "has_pet", "Rex"),
                              ("Rex", "born_in", "Porto"))])
    mem = graph_memory(script, hops=1, triplet_threshold=0.5)
    made.append(mem)
    mem.add(say("I live in Lisbon with my dog Rex, who was born in Porto."), user_id="maya", timestamp=T0)
    scope = mem_scope("maya")
    # entity-centric: the query names Lisbon; one hop from it is the lives_in edge only
    hits = mem.graph.search("anything about lisbon?", scope)
    assert [(r["destination"], r["matched_by"]) for r in hits] == [("Lisbon", ["entity"])]
    # triplet matching: no entity named, the words of "has pet" match one triple text
    hits = mem.graph.search("who has a pet", scope)
    assert [(r["destination"], r["matched_by"]) for r in hits] == [("Rex", ["triplet"])]
    assert hits[0]["score"] >= 0.5
    # two hops from Rex reach Maya's other edge, entity hits rank before triplet-only hits
    mem.graph.cfg = mem.graph.cfg.model_copy(update={"hops": 2, "triplet_threshold": 0.0})
    hits = mem.graph.search("tell me about Rex", scope)
    assert {r["destination"] for r in hits} == {"Lisbon", "Rex", "Porto"}
    assert all("entity" in r["matched_by"] for r in hits)


def test_vector_only_default_is_unchanged(make_memory):
    from tests.helpers import echo_manager

    mem = make_memory(echo_manager)
    assert mem.config.graph.mode == "vector" and mem.graph is None
    out = mem.add(say("I live in Lisbon."), user_id="maya")
    assert "relations" not in out and "relations" not in mem.search("Lisbon", user_id="maya")


def test_both_mode_returns_memories_and_relations(made):
    from tests.helpers import echo_manager

    script = GraphScript(vector=echo_manager, graph_entities=[ents(("Maya", "person"), ("Lisbon", "city"))],
                         graph_relations=[rels(("Maya", "lives_in", "Lisbon"))])
    mem = graph_memory(script, mode="both")
    made.append(mem)
    out = mem.add(say("I live in Lisbon."), user_id="maya", timestamp=T0)
    assert out["results"] and out["relations"]["added_entities"]
    found = mem.search("Where does Maya live? Lisbon?", user_id="maya")
    assert found["results"] and found["relations"][0]["destination"] == "Lisbon"
    assert out["calls"] == 4  # extract + update + entities + relations (nothing to resolve yet)


def test_revert_graph_calls(made):
    mem, _, calls, _, second = _moving_maya(made)
    relations_call, resolve_call = second["call_ids"]
    undone = mem.revert(call_id=resolve_call, user_id="maya")
    assert undone == [{"item_id": undone[0]["item_id"], "kind": "relation", "undid": "INVALIDATE"}]
    assert {r["destination"] for r in mem.search("Maya", user_id="maya")["relations"]} == {"Porto", "Lisbon"}
    mem.revert(call_id=relations_call, user_id="maya")
    assert [r["destination"] for r in mem.search("Maya", user_id="maya")["relations"]] == ["Porto"]
    assert sorted(e.name for e in mem.graph.tables.entities()) == ["Maya", "Porto"]  # Lisbon had no other use
    events = [h["event"] for h in mem.graph.history(scope=mem_scope("maya"))]
    assert events.count("REVERT") == 3  # the invalidation, the Lisbon relation and the Lisbon entity
    report = mem.graph.check_consistency(repair=False)
    assert report["missing"] == report["orphans"] == report["wrong_validity"] == 0
    with pytest.raises(ValueError):
        mem.revert(call_id=relations_call, user_id="bob")


def test_export_import_round_trip(made, tmp_path):
    mem, *_ = _moving_maya(made)
    path = tmp_path / "maya.jsonl"
    assert mem.export(path, user_id="maya") == 0  # memories counted; graph rows follow them
    fresh = graph_memory(GraphScript())
    made.append(fresh)
    counts = fresh.import_(path)
    assert counts["graph_imported"] == 5 and counts["graph_rejected"] == 0  # 3 entities + 2 relations
    scope = mem_scope("maya")
    key = lambda m: sorted((r["source"], r["relationship"], r["destination"], r["valid"], r["valid_from"],  # noqa: E731
                            r["invalidated_at"]) for r in m.graph.get_all(scope, include_invalid=True))
    assert key(fresh) == key(mem)
    porto = next(r for r in fresh.graph.get_all(scope, include_invalid=True) if r["destination"] == "Porto")
    assert [h["event"] for h in fresh.graph.history(porto["id"])] == ["ADD", "INVALIDATE"]
    assert [r["destination"] for r in fresh.graph.search("Maya", scope, as_of="2023-02-01")] == ["Porto"]
    again = fresh.import_(path)
    assert again["graph_skipped"] == 5 and len(fresh.graph.history(porto["id"])) == 2


def test_scopes_do_not_leak(made):
    script = GraphScript(
        graph_entities=[ents(("Maya", "person"), ("Lisbon", "city")), ents(("Bob", "person"), ("Lisbon", "city"))],
        graph_relations=[rels(("Maya", "lives_in", "Lisbon")), rels(("Bob", "visited", "Lisbon"))])
    mem = graph_memory(script)
    made.append(mem)
    mem.add(say("I live in Lisbon."), user_id="maya", timestamp=T0)
    bob = mem.add(say("I visited Lisbon.", who="Bob"), user_id="bob", timestamp=T0)
    assert [r["source"] for r in mem.search("Lisbon", user_id="bob")["relations"]] == ["Bob"]
    assert [r["source"] for r in mem.search("Lisbon", user_id="maya")["relations"]] == ["Maya"]
    assert len([e for e in mem.graph.tables.entities() if e.name == "Lisbon"]) == 2  # one per scope
    with pytest.raises(ValueError):
        mem.revert(call_id=bob["call_ids"][0], user_id="maya")
    mem.delete_all(user_id="bob")
    assert mem.search("Lisbon", user_id="bob")["relations"] == []
    assert [r["source"] for r in mem.search("Lisbon", user_id="maya")["relations"]] == ["Maya"]


def test_config_switch_is_strict():
    from memmgr.settings import ConfigError

    with pytest.raises(ValueError):
        MemoryConfig.load({"graph": {"mode": "graph", "nope": 1}})
    with pytest.raises(ValueError):
        MemoryConfig.load({"graph": {"mode": "tree"}})
    cfg = MemoryConfig.load({"graph": {"mode": "both", "url": "http://x"}, "embedder": {"provider": "hash"}})
    mem = Memory(cfg, manager=object())
    try:
        with pytest.raises(ConfigError):
            mem.graph.store  # noqa: B018
    finally:
        mem.close()


def test_retraction_invalidates_without_a_new_relation(made):
    """'I quit my job' adds no triple; conflict resolution still sees the conversation and the job edge."""
    script = GraphScript(
        graph_entities=[ents(("Maya", "person"), ("nurse", "job")), ents(("Maya", "person"), ("nurse", "job")),
                        ents(("Maya", "person"))],
        graph_relations=[rels(("Maya", "works_as", "nurse")), rels(), "not json"],
        graph_resolve=[inval("0"), inval("0")])
    mem = graph_memory(script)
    made.append(mem)
    mem.add(say("I work as a nurse."), user_id="maya", timestamp=T0)
    out = mem.add(say("I quit my job as a nurse."), user_id="maya", timestamp=T1)
    resolve = [s for s in script.seen if s["stage"] == "graph_resolve"]
    assert resolve[0]["new"][0]["text"] == "I quit my job as a nurse." and "relations" not in resolve[0]
    assert [r["destination"] for r in out["relations"]["deleted_entities"]] == ["nurse"]
    assert mem.search("Maya", user_id="maya")["relations"] == []


def test_unparseable_relations_answer_skips_conflict_resolution(made):
    script = GraphScript(
        graph_entities=[ents(("Maya", "person"), ("Porto", "city"))] * 2,
        graph_relations=[rels(("Maya", "lives_in", "Porto")), "sure! here you go"],
        graph_resolve=[inval("0")])
    mem = graph_memory(script)
    made.append(mem)
    mem.add(say("I live in Porto."), user_id="maya", timestamp=T0)
    out = mem.add(say("Porto is nice."), user_id="maya", timestamp=T1)
    assert not [s for s in script.seen if s["stage"] == "graph_resolve"]
    assert out["relations"]["deleted_entities"] == [] and out["rejected"][0]["stage"] == "graph_relations"


def test_merged_ends_never_make_a_loop(made):
    script = GraphScript(
        graph_entities=[ents(("Maya", "person"), ("Lisbon", "city")),
                        ents(("Maya", "person"), ("Maya Silva", "person"))],
        graph_relations=[rels(("Maya", "lives_in", "Lisbon")), rels(("Maya Silva", "sister_of", "Maya"))],
        graph_resolve=[inval()])
    mem = graph_memory(script, entity_threshold=0.5)
    made.append(mem)
    mem.add(say("I live in Lisbon."), user_id="maya", timestamp=T0)
    out = mem.add(say("Maya Silva is my full name, Maya for short."), user_id="maya", timestamp=T1)
    assert out["relations"]["added_entities"] == []
    assert [r["reason"] for r in out["rejected"]] == ["self_loop"]


def test_one_scope_waiting_on_its_manager_does_not_block_another(made):
    """Conflict resolution runs under the scope's lock, not the Memory's: Bob's add completes while Maya's
    resolve call is in flight."""
    import threading

    gate, inside = threading.Event(), threading.Event()

    def resolve(inp):
        inside.set()
        assert gate.wait(10)
        return inval("0")

    script = GraphScript(
        graph_entities=lambda inp: ents((inp["new"][0]["name"], "person"), (inp["new"][0]["text"][10:-1], "city")),
        graph_relations=lambda inp: rels((inp["entities"][0][0], "lives_in", inp["entities"][1][0])),
        graph_resolve=resolve)
    mem = graph_memory(script)
    made.append(mem)
    mem.add(say("I live in Porto."), user_id="maya", timestamp=T0)
    maya = threading.Thread(target=mem.add, args=(say("I live in Lisbon."),),
                            kwargs={"user_id": "maya", "timestamp": T1})
    maya.start()
    assert inside.wait(10)  # Maya's resolve call is in flight
    out = mem.add(say("I live in Leeds.", who="Bob"), user_id="bob", timestamp=T1)
    assert [r["source"] for r in out["relations"]["added_entities"]] == ["Bob"]
    gate.set()
    maya.join(10)
    assert [r["destination"] for r in mem.graph.get_all(mem_scope("maya"))] == ["Lisbon"]


def test_a_revert_during_a_manager_call_is_not_undone_by_its_writes(made):
    import threading

    gate, inside = threading.Event(), threading.Event()

    def resolve(inp):
        inside.set()
        assert gate.wait(10)
        return inval("0")

    script = GraphScript(graph_entities=[ents(("Maya", "person"), ("Porto", "city")),
                                         ents(("Maya", "person"), ("Lisbon", "city"))],
                         graph_relations=[rels(("Maya", "lives_in", "Porto")), rels(("Maya", "lives_in", "Lisbon"))],
                         graph_resolve=resolve)
    mem = graph_memory(script)
    made.append(mem)
    first = mem.add(say("I live in Porto."), user_id="maya", timestamp=T0)
    result = {}
    maya = threading.Thread(target=lambda: result.update(mem.add(say("I live in Lisbon."), user_id="maya",
                                                                 timestamp=T1)))
    maya.start()
    assert inside.wait(10)
    mem.revert(call_id=first["call_ids"][0], user_id="maya")  # Maya, Porto and the edge are gone meanwhile
    gate.set()
    maya.join(10)
    assert result["relations"] == {"added_entities": [], "deleted_entities": []}
    assert mem.graph.tables.entities() == [] and mem.graph.get_all(mem_scope("maya"), include_invalid=True) == []
    report = mem.graph.check_consistency(repair=False)
    assert report["missing"] == report["orphans"] == report["wrong_validity"] == 0


def test_get_all_lists_valid_relations_like_mem0(made):
    mem, *_ = _moving_maya(made)
    out = mem.get_all(user_id="maya")
    assert out["results"] == [] and [r["destination"] for r in out["relations"]] == ["Lisbon"]
    assert mem.get_all(user_id="bob")["relations"] == []


def test_search_with_history_lists_invalidated_relations(made):
    mem, *_ = _moving_maya(made)
    hits = mem.graph.search("Where did Maya live?", mem_scope("maya"), include_invalid=True)
    assert {(r["destination"], r["valid"]) for r in hits} == {("Lisbon", True), ("Porto", False)}


def test_async_memory_rolls_back_graph_writes_of_a_failed_add(made):
    """AsyncMemory reverts what a failed add applied: graph calls are undoable like update calls."""
    import asyncio

    from memmgr.async_memory import AsyncMemory

    def summary(messages):
        raise RuntimeError("summary backend down")

    script = GraphScript(vector=summary, graph_entities=[ents(("Maya", "person"), ("Lisbon", "city"))],
                         graph_relations=[rels(("Maya", "lives_in", "Lisbon"))])
    mem = graph_memory(script, mode="graph")
    mem.config.pipeline.summary_every_k = 1  # the summary call comes after the graph writes, and fails
    made.append(mem)

    async def go():
        amem = AsyncMemory(memory=mem)
        with pytest.raises(Exception, match="summary backend down"):
            await amem.add(say("I live in Lisbon."), user_id="maya", timestamp=T0)
        return await amem.get_all(user_id="maya")

    assert asyncio.run(go())["relations"] == []
    assert [h["event"] for h in mem.graph.history(scope=mem_scope("maya"))].count("REVERT") == 3


def test_dated_relations_keep_a_grounded_when(made, tmp_path):
    answer = json.dumps({"relations": [
        {"source": "Maya", "relation": "visited", "destination": "Rome", "when": "7 May 2023"},
        {"source": "Maya", "relation": "likes", "destination": "Rome", "when": "3 March 1999"},
        {"source": "Maya", "relation": "plans_to_visit", "destination": "Oslo", "when": {"date": 1}}]})
    script = GraphScript(graph_entities=[ents(("Maya", "person"), ("Rome", "city"), ("Oslo", "city"))],
                         graph_relations=[answer])
    mem = graph_memory(script)
    made.append(mem)
    out = mem.add(say("Yesterday I visited Rome, I like Rome, and I will go to Oslo."), user_id="maya", timestamp=T1)
    got = {r["relationship"]: r.get("when") for r in out["relations"]["added_entities"]}
    assert got == {"visited": "7 May 2023", "likes": None, "plans_to_visit": None}  # 1999 is nowhere in the turn
    assert [r["reason"] for r in out["rejected"]] == ["ungrounded"]
    hit = mem.search("When did Maya visit Rome?", user_id="maya")["relations"][0]
    assert (hit["relationship"], hit["when"]) == ("visited", "7 May 2023")
    mem.export(tmp_path / "m.jsonl", user_id="maya")
    fresh = graph_memory(GraphScript())
    made.append(fresh)
    fresh.import_(tmp_path / "m.jsonl")
    assert {r["relationship"]: r.get("when") for r in fresh.graph.get_all(mem_scope("maya"))} == got


def test_a_store_without_relation_dates_is_migrated(tmp_path):
    import sqlite3

    from memmgr.graph.tables import GraphTables
    from memmgr.stores.sqlite import SQLiteStore

    path = str(tmp_path / "old.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE graph_relations (id TEXT PRIMARY KEY, scope_key TEXT NOT NULL, user_id TEXT, "
                     "agent_id TEXT, run_id TEXT, source_id TEXT NOT NULL, relation TEXT NOT NULL, destination_id "
                     "TEXT NOT NULL, valid INTEGER NOT NULL DEFAULT 1, valid_from TEXT NOT NULL, invalidated_at TEXT, "
                     "created_at TEXT NOT NULL, source_ids TEXT NOT NULL DEFAULT '[]', deleted INTEGER NOT NULL "
                     "DEFAULT 0)")
    db = SQLiteStore(path)
    GraphTables(db)
    assert "when_text" in {r[1] for r in db.conn.execute("PRAGMA table_info(graph_relations)")}
    db.close()


def test_memory_history_serves_relation_ids_and_graph_calls(made):
    mem, _, _, _, second = _moving_maya(made)
    porto = next(r for r in mem.graph.get_all(mem_scope("maya"), include_invalid=True) if r["destination"] == "Porto")
    assert [h["event"] for h in mem.history(porto["id"], user_id="maya")] == ["ADD", "INVALIDATE"]
    assert [h["event"] for h in mem.history(call_id=second["call_ids"][1], user_id="maya")] == ["INVALIDATE"]
    with pytest.raises(ValueError):
        mem.history(porto["id"], user_id="bob")
    with pytest.raises(ValueError):
        mem.history("no-such-id", user_id="maya")


def test_entity_centric_search_sees_possessives():
    """LOCOMO asks "What is Maya's dog called?": the possessive names the entity Maya."""
    script = GraphScript(graph_entities=[ents(("Maya", "person"), ("Pixel", "animal"))],
                         graph_relations=[rels(("Maya", "adopted", "Pixel"))], graph_resolve=[inval()])
    mem = graph_memory(script)
    mem.add(say("I adopted a beagle called Pixel."), user_id="maya", timestamp=T0)
    for q in ("What is Maya's dog called?", "What is Maya\u2019s dog called?"):
        [hit] = mem.search(q, user_id="maya")["relations"]
        assert hit["destination"] == "Pixel" and "entity" in hit["matched_by"]


def test_mem0_graph_store_config_runs_graph_memory(made):
    """A mem0 config with a graph_store (kuzu: mem0's embedded graph) writes memories and relations, like mem0."""
    from tests.helpers import ScriptedBackend, echo_manager

    script = GraphScript(vector=echo_manager, graph_entities=[ents(("Maya", "person"), ("Lisbon", "city"))],
                         graph_relations=[rels(("Maya", "lives_in", "Lisbon"))])
    cfg = MemoryConfig.load({"embedder": {"provider": "hash", "config": {"embedding_dims": 64}},
                             "graph_store": {"provider": "kuzu", "config": {"db": ":memory:"}}})
    mem = Memory(cfg, manager=ScriptedBackend(script))
    made.append(mem)
    out = mem.add(say("I live in Lisbon."), user_id="maya", timestamp=T0)
    assert out["results"] and out["relations"]["added_entities"]
    assert mem.search("Where does Maya live?", user_id="maya")["relations"][0]["destination"] == "Lisbon"
