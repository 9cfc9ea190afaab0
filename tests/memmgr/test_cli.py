import json

import pytest

from memmgr.cli import main
from memmgr.conversations import load_conversations, parse_locomo_datetime


@pytest.fixture
def cli(tmp_path, monkeypatch):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("manager: {backend: 'tests.helpers:ScriptedBackend', model: echo}\nembedder: {provider: hash}\n")
    store = tmp_path / "store"

    def run(*args):
        return main(["--config", str(cfg), "--store", str(store), *args])

    return run


def test_cli_round_trip(cli, capsys, tmp_path):
    assert cli("add", "I adopted a cat named Tom.", "--user", "maya", "--timestamp", "2023-05-08T10:00:00") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"][0]["event"] == "ADD"
    mid = out["results"][0]["id"]
    cli("list", "--user", "maya")
    assert mid in capsys.readouterr().out
    cli("search", "cat", "--user", "maya")
    assert "Tom" in capsys.readouterr().out
    cli("history", mid)
    assert json.loads(capsys.readouterr().out)[0]["event"] == "ADD"
    exp = tmp_path / "e.jsonl"
    cli("export", str(exp), "--user", "maya")
    capsys.readouterr()
    cli("undo", "--memory", mid)
    capsys.readouterr()
    cli("list", "--user", "maya")
    assert capsys.readouterr().out == ""
    cli("import", str(exp), "--overwrite")
    assert json.loads(capsys.readouterr().out)["imported"] == 1
    cli("check")
    assert json.loads(capsys.readouterr().out)["missing_vectors"] == 0


def test_cli_ingest_jsonl(cli, capsys, tmp_path):
    conv = tmp_path / "d.jsonl"
    rows = [{"conversation_id": "c1", "session": 1, "timestamp": "2023-05-08T13:56:00", "speaker": s, "text": t}
            for s, t in [("Maya", "I moved to Lisbon."), ("Leo", "Wow, nice!"), ("Maya", "I also got a dog.")]]
    conv.write_text("\n".join(json.dumps(r) for r in rows))
    c = load_conversations(conv)[0]
    assert c.speakers == ["Maya", "Leo"] and [len(m) for m, _ in c.message_pairs()] == [2, 1]
    report = tmp_path / "r.json"
    assert cli("ingest", "--conversation", str(conv), "--report", str(report)) == 0
    summary = json.loads(report.read_text())
    assert summary["adds"] == 4 and summary["manager_calls"] > 4 and summary["memories_stored"] > 0


def test_locomo_loader(locomo_dev_path):
    convs = load_conversations(locomo_dev_path)
    assert [c.conversation_id for c in convs] == ["conv-26", "conv-30"]
    assert [sum(len(s.turns) for s in c.sessions) for c in convs] == [419, 369]
    assert convs[0].sessions[0].turns[2].id == "D1:3"
    assert parse_locomo_datetime("1:56 pm on 8 May, 2023").isoformat() == "2023-05-08T13:56:00"
    captioned = [t for s in convs[0].sessions for t in s.turns if "[shares " in t.content]
    assert captioned


@pytest.fixture
def constructions(monkeypatch):
    """How many manager backends the CLI built (tests.helpers:ScriptedBackend.from_config calls)."""
    from tests.helpers import ScriptedBackend

    made = []
    original = ScriptedBackend.from_config.__func__

    def counting(cls, cfg):
        made.append(cfg.model)
        return original(cls, cfg)

    monkeypatch.setattr(ScriptedBackend, "from_config", classmethod(counting))
    return made


def _json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith(("{", "["))]


def test_shell_loads_the_manager_once_and_survives_bad_lines(cli, capsys, monkeypatch, constructions):
    import io

    lines = [
        'add --user maya "I have a dog called Biscuit." --timestamp 2023-05-08T10:00:00',
        "",
        "# a comment",
        "add --user maya 'I moved to Lisbon.'",
        "frobnicate --user maya",  # unknown verb
        'add --user maya "unclosed quote',  # shlex error
        "search dog",  # no scope
        "add --user leo 'I play the cello.'",
        'search --user maya "dog"',
        "list --user leo",
        "exit",
        "add --user maya 'never run'",
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert cli("shell") == 2  # some lines failed
    out, err = capsys.readouterr()
    assert constructions == ["echo"]  # three adds, one manager
    results = _json_lines(out)
    assert len(results) == 8 and len(out.splitlines()) == 8  # one JSON line per verb line
    first, second, bad_verb, bad_quote, no_scope, leo, found, leos = results
    assert [r["event"] for r in first["results"]] == ["ADD"] and second["results"][0]["event"] == "ADD"
    assert bad_verb["line"] == 5 and bad_verb["error"].startswith("unknown verb 'frobnicate' (choose from 'add',")
    assert bad_quote["line"] == 6 and "quotation" in bad_quote["error"]
    assert no_scope["line"] == 7 and "needs a scope" in no_scope["error"]
    assert leo["results"][0]["event"] == "ADD"
    assert "Biscuit" in found[0]["memory"] and all(r["user_id"] == "maya" for r in found)
    assert [r["memory"] for r in leos] == [leo["results"][0]["memory"]]
    assert [e.split(":")[:2] for e in err.strip().splitlines()] == [["error", " line 5"], ["error", " line 6"],
                                                                    ["error", " line 7"]]
    cli("list", "--user", "maya")
    assert "never run" not in capsys.readouterr().out
    cli("add", "I like tea.", "--user", "maya")  # a new process (invocation) builds its own manager
    assert constructions == ["echo", "echo"]


def test_batch_file_reuses_the_manager_across_check_and_reindex(cli, capsys, tmp_path, constructions):
    script = tmp_path / "verbs.txt"
    script.write_text("\n".join([
        "add --user maya 'I have a dog called Biscuit.'",
        "check --no-repair",
        "search --help",
        "add --user maya 'I moved to Lisbon.'",
        "reindex",
        "add --user maya 'I play the cello.'",
        f"export {tmp_path / 'e.jsonl'} --user maya",
        "list --user maya",
    ]) + "\n")
    assert cli("batch", str(script)) == 0
    out = capsys.readouterr().out
    assert constructions == ["echo"]
    results = _json_lines(out)
    check, reindexed, exported, listed = results[1], results[3], results[5], results[6]
    assert check["missing_vectors"] == 0 and reindexed
    assert exported == {"exported": 3, "file": str(tmp_path / "e.jsonl")}
    assert len(listed) == 3 and "usage: memmgr search" in out
    assert cli("batch", str(tmp_path / "missing.txt")) == 2
    assert "error:" in capsys.readouterr().err


def test_help_lists_serve(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "serve" in capsys.readouterr().out


def test_cli_graph_memory_relations(tmp_path, capsys):
    """--graph both: add writes relations too; `relations` lists them, searches them, and shows the graph as of a
    date (the Porto relation, invalidated by the move, is still there at the earlier date)."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("manager: {backend: 'tests.helpers:ScriptedBackend', model: echo-graph}\n"
                   "embedder: {provider: hash}\n")

    def cli(*args):
        return main(["--config", str(cfg), "--store", str(tmp_path / "store"), "--graph", "both", *args])

    assert cli("add", "I live in Porto.", "--user", "maya", "--timestamp", "2023-01-10T10:00:00") == 0
    assert json.loads(capsys.readouterr().out)["relations"]["added_entities"]
    cli("add", "I moved to Lisbon.", "--user", "maya", "--timestamp", "2023-05-08T10:00:00")
    capsys.readouterr()
    assert cli("relations", "--user", "maya") == 0
    out = capsys.readouterr().out
    assert "Maya --lives_in--> Lisbon" in out and "Porto" not in out
    cli("relations", "--user", "maya", "--as-of", "2023-03-01")
    assert "Maya --lives_in--> Porto" in capsys.readouterr().out
    cli("relations", "--user", "maya", "--include-invalid")
    assert "INVALID since 2023-05-08" in capsys.readouterr().out
    cli("relations", "Where does Maya live?", "--user", "maya")
    assert "Lisbon" in capsys.readouterr().out
    cli("relations", "--user", "leo")
    assert capsys.readouterr().out == ""  # another scope sees nothing
    assert cli("relations") == 2 and "needs --user" in capsys.readouterr().err
    assert main(["--config", str(cfg), "--store", str(tmp_path / "store"), "relations", "--user", "maya"]) == 2
    assert "graph memory is off" in capsys.readouterr().err
