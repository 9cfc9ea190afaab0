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
