"""Scoping that cannot leak: two users, every API and CLI verb (issue 15)."""

import json
from datetime import datetime

import pytest

from memmgr import Memory, MemoryConfig
from memmgr.cli import main
from tests.helpers import ScriptedBackend, echo_manager, pair

TS = datetime(2023, 5, 8, 13, 56)


@pytest.fixture
def two(make_memory):
    """One store, two users (maya, leo), two memories each; returns (mem, maya's ids, leo's ids, maya's calls)."""
    mem = make_memory(echo_manager)
    r = mem.add(pair("I like jazz."), user_id="maya", timestamp=TS)
    mem.add(pair("I like opera.", "Bravo.", who="Leo"), user_id="leo", timestamp=TS)
    ids = {u: [m["id"] for m in mem.get_all(user_id=u)["results"]] for u in ("maya", "leo")}
    assert len(ids["maya"]) == 2 and len(ids["leo"]) == 2
    return mem, ids["maya"], ids["leo"], r["call_ids"]


def users_of(rows):
    return {r["user_id"] for r in rows}


def test_unscoped_calls_refuse(two, tmp_path):
    mem, maya, leo, _ = two
    for call in (lambda: mem.get_all(), lambda: mem.search("jazz"), lambda: mem.delete_all(),
                 lambda: mem.export(tmp_path / "x.jsonl"), lambda: mem.history(),
                 lambda: mem.search("jazz", filters={"category": "x"})):
        with pytest.raises(ValueError, match="needs a scope"):
            call()
    assert len(mem.get_all(all_scopes=True)["results"]) == 4  # nothing was deleted
    assert not (tmp_path / "x.jsonl").exists()
    with pytest.raises(ValueError, match="needs a scope"):
        mem.add(pair("hi"), timestamp=TS)


def test_all_scopes_is_an_explicit_opt_in(two, tmp_path):
    mem, maya, leo, _ = two
    assert users_of(mem.get_all(all_scopes=True)["results"]) == {"maya", "leo"}
    assert users_of(mem.search("like", all_scopes=True)["results"]) == {"maya", "leo"}
    assert mem.export(tmp_path / "all.jsonl", all_scopes=True) == 4
    assert {r["memory_id"] for r in mem.history(all_scopes=True)} == set(maya + leo)


def test_scoped_reads_do_not_leak(two, tmp_path):
    mem, maya, leo, _ = two
    assert users_of(mem.get_all(user_id="leo")["results"]) == {"leo"}
    hits = mem.search("jazz", user_id="leo")["results"]
    assert hits and users_of(hits) == {"leo"} and all("jazz" not in h["memory"] for h in hits)
    assert mem.search("jazz", filters={"user_id": "leo"})["results"] == hits  # scope given as a mem0 filter
    assert {r["memory_id"] for r in mem.history(user_id="leo")} == set(leo)
    path = tmp_path / "leo.jsonl"
    assert mem.export(path, user_id="leo") == 2
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert {r["id"] for r in rows} == set(leo) and users_of(rows) == {"leo"}
    other = Memory(MemoryConfig.load({"embedder": {"provider": "hash"}}), manager=ScriptedBackend(["{}"]))
    assert other.import_(path)["imported"] == 2
    assert other.get_all(user_id="maya")["results"] == [] and len(other.get_all(user_id="leo")["results"]) == 2
    other.close()


def test_by_id_calls_refuse_ids_outside_the_given_scope(two):
    mem, maya, leo, calls = two
    mid = maya[0]
    before = mem.get(mid)
    for call in (lambda: mem.get(mid, user_id="leo"), lambda: mem.update(mid, "Leo likes jazz", user_id="leo"),
                 lambda: mem.delete(mid, user_id="leo"), lambda: mem.history(mid, user_id="leo"),
                 lambda: mem.revert(memory_id=mid, user_id="leo"), lambda: mem.history(call_id=calls[0], user_id="leo"),
                 lambda: mem.revert(call_id=calls[0], user_id="leo")):
        with pytest.raises(ValueError, match=f"memory {mid} is not in scope user_id=leo"):
            call()
    assert mem.get(mid) == before and len(mem.history(mid)) == 1  # untouched
    # in scope (or without a scope, by id as before) they act
    assert mem.get(mid, user_id="maya")["memory"] == before["memory"]
    assert mem.update(mid, "Maya likes jazz a lot", user_id="maya")["event"] == "UPDATE"
    assert [h["event"] for h in mem.history(mid, user_id="maya")] == ["ADD", "UPDATE"]
    assert mem.revert(memory_id=mid, user_id="maya") == [{"memory_id": mid, "undid": "UPDATE"}]
    assert mem.delete(mid, user_id="maya")["event"] == "DELETE"
    assert mem.get(mid, user_id="maya") is None
    assert len(mem.revert(call_id=calls[0], user_id="maya")) >= 1


def test_delete_all_only_touches_its_scope(two):
    mem, maya, leo, _ = two
    assert mem.db.get_state("u=maya|a=|r=")["pairs_seen"] == 1
    out = mem.delete_all(user_id="maya")
    assert out == {"message": "Memories deleted successfully!", "deleted": 2}
    assert mem.get_all(user_id="maya")["results"] == []
    assert {m["id"] for m in mem.get_all(user_id="leo")["results"]} == set(leo)
    assert mem.db.get_state("u=maya|a=|r=")["pairs_seen"] == 0  # its conversation state is forgotten too
    assert mem.db.get_state("u=leo|a=|r=")["pairs_seen"] == 1
    assert mem.check_consistency(repair=False) == {"live": 2, "missing_vectors": 0, "orphan_vectors": 0}
    assert [h["event"] for h in mem.history(maya[0])] == ["ADD", "DELETE"]


def test_unknown_and_deleted_ids(two):
    mem, maya, _, _ = two
    for call in (lambda: mem.get("nope"), lambda: mem.update("nope", "Maya likes tea"), lambda: mem.delete("nope"),
                 lambda: mem.history("nope"), lambda: mem.revert(memory_id="nope")):
        with pytest.raises(ValueError, match="no memory with id 'nope'"):
            call()
    with pytest.raises(ValueError, match="no memory operation was recorded"):
        mem.revert(call_id="nope")
    assert mem.history(call_id="nope") == []  # a call that changed nothing has no rows
    mem.delete(maya[0])
    assert mem.get(maya[0]) is None  # known but deleted: None, as in mem0
    with pytest.raises(ValueError, match="is deleted"):
        mem.delete(maya[0])
    with pytest.raises(ValueError, match="is deleted"):
        mem.update(maya[0], "Maya likes tea")


def test_import_overwrite_does_not_duplicate_history(two, tmp_path):
    mem, maya, _, _ = two
    path = tmp_path / "maya.jsonl"
    mem.export(path, user_id="maya")
    before = {m: mem.history(m) for m in maya}
    mem.revert(memory_id=maya[0])  # the ADD is undone: the memory is gone locally
    assert mem.import_(path, overwrite=True)["imported"] == 2
    assert mem.import_(path, overwrite=True)["imported"] == 2
    for m in maya:
        events = [h["event"] for h in mem.history(m)]
        assert events.count("ADD") == 1 and events.count("IMPORT") == 2, events
        assert [h["seq"] for h in mem.history(m)][: len(before[m])] == [h["seq"] for h in before[m]]
    assert {m["id"] for m in mem.get_all(user_id="maya")["results"]} == set(maya)


def test_add_reports_call_ids_that_revert_undoes(make_memory):
    mem = make_memory(echo_manager)
    r = mem.add(pair("I like tea.", "Nice."), user_id="maya", timestamp=TS)
    assert len(r["call_ids"]) == 2 and r["calls"] == 3  # one extract call + one update call per fact
    for call_id in r["call_ids"]:
        mem.revert(call_id=call_id, user_id="maya")
    assert mem.get_all(user_id="maya")["results"] == []


# ---------------------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def cli(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("manager: {backend: 'tests.helpers:ScriptedBackend', model: echo}\nembedder: {provider: hash}\n")
    store = tmp_path / "store"

    def run(*args, config=cfg):
        capsys.readouterr()
        rc = main(["--config", str(config), "--store", str(store), *args])
        out, err = capsys.readouterr()
        return rc, out, err

    run.store = store
    return run


def fails(result, match):
    rc, out, err = result
    assert rc != 0 and out == "" and len(err.strip().splitlines()) == 1 and match in err, (rc, out, err)


def test_cli_two_users_no_leak(cli, tmp_path):
    rc, out, _ = cli("add", "I like jazz.", "--user", "maya", "--timestamp", "2023-05-08T10:00:00")
    maya_add = json.loads(out)
    assert rc == 0 and maya_add["call_ids"]
    mid = maya_add["results"][0]["id"]
    rc, out, _ = cli("add", "I like opera.", "--user", "leo")
    lid = json.loads(out)["results"][0]["id"]

    fails(cli("list"), "needs a scope")
    rc, out, _ = cli("list", "--all-scopes")
    assert f"{mid}  user=maya" in out and f"{lid}  user=leo" in out
    rc, out, _ = cli("list", "--user", "leo")
    assert lid in out and mid not in out and "user=leo" in out
    fails(cli("search", "jazz"), "needs a scope")
    rc, out, _ = cli("search", "jazz", "--user", "leo")
    assert rc == 0 and mid not in out and "jazz" not in out

    fails(cli("history", mid, "--user", "leo"), "not in scope")
    fails(cli("history", "nope"), "no memory with id 'nope'")
    fails(cli("history"), "needs a scope")
    rc, out, _ = cli("history", "--user", "leo")
    assert {h["memory_id"] for h in json.loads(out)} == {lid}
    fails(cli("undo", "--memory", "nope"), "no memory with id 'nope'")
    fails(cli("undo", "--call", maya_add["call_ids"][0], "nope"), "no memory operation was recorded")
    assert mid in cli("list", "--user", "maya")[1]  # nothing was undone
    fails(cli("undo", "--call", maya_add["call_ids"][0], "--user", "leo"), "not in scope")
    fails(cli("update", mid, "Leo likes jazz", "--user", "leo"), "not in scope")
    rc, out, _ = cli("update", mid, "Maya likes jazz a lot", "--user", "maya", "--metadata", '{"k": 1}')
    assert rc == 0 and json.loads(out)["message"] == "Memory updated successfully!"

    fails(cli("export", str(tmp_path / "e.jsonl")), "needs a scope")
    rc, out, _ = cli("export", str(tmp_path / "e.jsonl"), "--user", "maya")
    assert {json.loads(x)["user_id"] for x in (tmp_path / "e.jsonl").read_text().splitlines()} == {"maya"}

    fails(cli("delete", mid, "--user", "leo"), "not in scope")
    fails(cli("delete", "--all"), "needs a scope")
    fails(cli("delete"), "give a MEMORY_ID")
    rc, out, _ = cli("delete", "--all", "--user", "leo")
    assert json.loads(out)["deleted"] >= 1
    rc, out, _ = cli("list", "--all-scopes")
    assert mid in out and lid not in out
    rc, out, _ = cli("undo", "--call", *maya_add["call_ids"], "--user", "maya")
    assert rc == 0 and json.loads(out)
    rc, out, _ = cli("list", "--user", "maya")
    assert mid not in out
    rc, out, _ = cli("import", str(tmp_path / "e.jsonl"), "--overwrite")
    assert json.loads(out)["imported"] >= 1
    rc, out, _ = cli("delete", mid, "--user", "maya")
    assert rc == 0 and json.loads(out)["message"] == "Memory deleted successfully!"

    cli("add", "I like tea.", "--user", "maya")
    fails(cli("reset"), "--yes")
    rc, out, _ = cli("list", "--all-scopes")
    assert out.strip()  # reset without --yes did nothing
    assert cli("reset", "--yes")[0] == 0
    assert cli("list", "--all-scopes")[1] == ""


def test_cli_check_no_repair_reports_then_check_repairs(cli):
    cli("add", "I like tea.", "--user", "maya")
    mem = Memory(MemoryConfig.load({"embedder": {"provider": "hash"}, "store": {"path": str(cli.store)}}),
                 manager=ScriptedBackend(["{}"]))
    mem.index.delete([m["id"] for m in mem.get_all(user_id="maya")["results"]][:1])
    mem.close()
    rc, out, _ = cli("check", "--no-repair")
    assert json.loads(out)["missing_vectors"] == 1  # opening did not repair it away
    assert json.loads(cli("check")[1])["missing_vectors"] == 1  # reported, then repaired
    assert json.loads(cli("check", "--no-repair")[1])["missing_vectors"] == 0


def test_cli_reindex_after_embedder_change(cli, tmp_path):
    cli("add", "I like tea.", "--user", "maya")
    other = tmp_path / "cfg64.yaml"
    other.write_text("manager: {backend: 'tests.helpers:ScriptedBackend', model: echo}\n"
                     "embedder: {provider: hash, dim: 64}\n")
    fails(cli("list", "--user", "maya", config=other), "built with embedder hash-384 (dim 384)")
    rc, out, _ = cli("reindex", config=other)
    assert rc == 0 and json.loads(out) == {"reindexed": 1, "embedder": {"name": "hash-64", "dim": 64}}
    rc, out, _ = cli("search", "tea", "--user", "maya", config=other)
    assert rc == 0 and "tea" in out
    fails(cli("list", "--user", "maya"), "built with embedder hash-64 (dim 64)")


def test_extraction_prompt_names_the_scope_owner(make_memory):
    # a user scope keeps the user's facts, an agent-only scope the agent's own (mem0's agent memory)
    seen = []

    def manager(messages):
        seen.append(messages[-1]["content"])
        return echo_manager(messages)

    mem = make_memory(manager)
    chat = [{"role": "user", "content": "I live in Oslo"}, {"role": "assistant", "content": "I am a helpful bot"}]
    mem.add(chat, user_id="u1")
    mem.add(chat, agent_id="bot")
    mem.add([{"role": "user", "name": "Jon", "content": "I lost my job"},
             {"role": "assistant", "name": "Gina", "content": "So did I"}], user_id="jon", agent_id="bot")
    owners = [line for p in seen for line in p.split("\n") if line.startswith("Memory of:")]
    assert owners[0] == "Memory of: User" and "Memory of: Assistant" in owners and owners[-1] == "Memory of: Jon"
