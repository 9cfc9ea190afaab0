import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from memmgr import Memory, MemoryConfig
from memmgr.backends import BACKENDS, make_backend, resolve_backend_class
from memmgr.backends.base import BackendError
from tests.helpers import pair


def test_import_memmgr_stays_light():
    code = ("import sys, memmgr, memmgr.memory, memmgr.cli, memmgr.scoring; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets', 'sentence_transformers') "
            "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


class _Handler(BaseHTTPRequestHandler):
    script: list = []
    requests: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        status, content = type(self).script.pop(0) if type(self).script else (200, '{"facts": []}')
        payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content}}],
                   "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}}
        data = json.dumps(payload if status == 200 else {"error": {"message": "boom"}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    _Handler.script, _Handler.requests = [], []
    srv = HTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}/v1", _Handler
    srv.shutdown()


def test_openai_backend_against_loopback_server(server):
    url, handler = server
    handler.script = [(200, '{"facts": ["Maya lives in Lisbon"]}'),
                      (200, '{"memory": [{"id": "new", "text": "Maya lives in Lisbon", "event": "ADD"}]}')]
    cfg = MemoryConfig.load({"embedder": {"provider": "hash"},
                             "manager": {"backend": "openai", "model": "teacher", "base_url": url}})
    mem = Memory(cfg)
    r = mem.add(pair("I live in Lisbon."), user_id="maya")
    assert [x["memory"] for x in r["results"]] == ["Maya lives in Lisbon"]
    assert handler.requests[0]["response_format"]["type"] == "json_schema"
    assert handler.requests[0]["messages"][0]["role"] == "system"


def test_openai_backend_retries_then_raises(server):
    url, handler = server
    handler.script = [(500, ""), (200, '{"facts": []}')]
    be = make_backend({"backend": "openai", "model": "m", "base_url": url, "retries": 2})
    be_fast = be
    gen = be_fast.generate([{"role": "user", "content": "hi"}])
    assert gen.text == '{"facts": []}' and gen.prompt_tokens == 11
    handler.script = [(500, "")] * 5
    be2 = make_backend({"backend": "openai", "model": "m", "base_url": url, "retries": 1})
    with pytest.raises(BackendError):
        be2.generate([{"role": "user", "content": "hi"}])


def test_backend_registry():
    assert set(BACKENDS) >= {"openai", "transformers", "vllm"}
    assert resolve_backend_class("tests.helpers:ScriptedBackend").__name__ == "ScriptedBackend"
    with pytest.raises(ValueError):
        resolve_backend_class("nope")


def test_answer_helper_formats_dates():
    from memmgr.answer import answer, format_memories
    from tests.helpers import ScriptedBackend

    items = [{"memory": "Maya moved to Porto", "session_date": "2023-06-01T10:00:00"},
             {"memory": "Maya lives in Lisbon", "session_date": "2023-05-08T13:56:00"}]
    text = format_memories(items)
    assert text.splitlines() == ["- [8 May 2023] Maya lives in Lisbon", "- [1 June 2023] Maya moved to Porto"]
    be = ScriptedBackend(["Porto\nbecause..."])
    assert answer(be, "Where does Maya live?", "Maya", items).text == "Porto"
    assert "[1 June 2023] Maya moved to Porto" in be.calls[0][-1]["content"]
