"""Shared pieces of the serving tests: where .venv-vllm is, the tiny model + LoRA adapter, free ports, the server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def vllm_python() -> str | None:
    """The interpreter of the vLLM venv ($MEMMGR_VLLM_PYTHON, else <repo>/.venv-vllm/bin/python), None if absent."""
    env = os.environ.get("MEMMGR_VLLM_PYTHON")
    path = Path(env) if env else ROOT / ".venv-vllm" / "bin" / "python"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def engine_env() -> dict[str, str]:
    """Environment for an engine subprocess: CPU, small KV cache, offline, quiet."""
    env = dict(os.environ)
    env.update({"VLLM_CPU_KVCACHE_SPACE": env.get("VLLM_CPU_KVCACHE_SPACE", "1"), "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
                "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "2"),
                "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")})
    return env


THINGS = ["a beagle called Pixel", "the cello", "a red bike", "pottery classes", "a flat in York"]


def conversation(user: str, n: int) -> list[list[dict]]:
    """n message pairs of one user (the same in the worker, the server tests and the adapter's training data)."""
    who = user.capitalize()
    return [[{"role": "user", "content": f"I just got {THINGS[(k + len(user)) % len(THINGS)]}!", "name": who,
              "id": f"{user}:{2 * k}"},
             {"role": "assistant", "content": "Nice!", "name": "Bot", "id": f"{user}:{2 * k + 1}"}]
            for k in range(n)]


def teacher(messages: list[dict[str, str]]) -> str:
    """The manager the tiny adapter memorises: one fact per user turn, ADD unless the same fact is shown."""
    from memmgr.prompts import extraction_output, parse_extraction_input, parse_update_input, stage_of, update_output

    if stage_of(messages) == "extract":
        new = parse_extraction_input(messages)["new"]
        return extraction_output([f"{t['name']} got {t['text'][len('I just got '):].rstrip('!')}" for t in new
                                  if t["text"].startswith("I just got ")])
    inp = parse_update_input(messages)
    shown = {text: i for i, text in inp["memories"]}
    return update_output([{"id": shown[f], "text": f, "event": "NOOP"} if f in shown else
                          {"id": "new", "text": f, "event": "ADD"} for f in inp["facts"]])


class Shadow:
    """A real engine call whose answer is then replaced by `teacher`'s: the transport, the engine, batching and
    failures are real, the content is known, so store-level checks (memories, history) have exact expectations."""

    def __init__(self, inner):
        self.inner = inner
        self.name = f"shadow:{getattr(inner, 'name', 'engine')}"
        self.prompt_style = getattr(inner, "prompt_style", None)
        self.engine_calls = 0
        if hasattr(inner, "generate_many"):
            self.generate_many = self._generate_many

    def generate(self, messages, **kwargs):
        gen = self.inner.generate(messages, **kwargs)
        self.engine_calls += 1
        gen.text = teacher(list(messages))
        return gen

    def _generate_many(self, requests):
        gens = self.inner.generate_many(requests)
        self.engine_calls += len(gens)
        for (messages, _), gen in zip(requests, gens):
            gen.text = teacher(list(messages))
        return gens


def expected_memories(plan: dict[str, int]) -> dict[str, list[str]]:
    """Each user's memories when `teacher` manages them (no engine)."""
    from memmgr import Memory, MemoryConfig
    from tests.helpers import ScriptedBackend

    mem = Memory(MemoryConfig.load({"embedder": {"provider": "hash"}}), manager=ScriptedBackend(teacher))
    for user, n in plan.items():
        for pair in conversation(user, n):
            mem.add(pair, user_id=user)
    out = {u: sorted(m["memory"] for m in mem.get_all(user_id=u)["results"]) for u in plan}
    mem.close()
    return out


def build_tiny_adapter(model_dir: str | Path, out_dir: str | Path, *, rank: int = 8, seed: int = 0) -> str:
    """A LoRA adapter on the tiny model (PEFT, random non-zero B so it changes outputs) with a manager card
    naming the student prompt; about a second."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from memmgr.manager_card import write_manager_card

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"],
                                                  lora_dropout=0.0, task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.02)
    peft_model.save_pretrained(str(out_dir))
    write_manager_card(out_dir, prompt_style="student", base_model=str(model_dir), trained_by="tests/serving")
    return str(out_dir)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`vllm serve` (the api_server module) in .venv-vllm on 127.0.0.1, in its own process group."""

    def __init__(self, cmd: list[str], port: int, log_path: Path, env: dict[str, str]):
        self.port, self.log_path = port, log_path
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._log = open(log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT),
                                     start_new_session=True)

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.kill()
        raise TimeoutError(f"vllm server not ready after {timeout_s:.0f} s:\n{self.tail()}")

    def models(self) -> list[str]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models", timeout=5) as r:
            return [m["id"] for m in json.load(r)["data"]]

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group (the server and its engine core), then reap it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


ENGINE_PLAN = {"user1": 2, "user2": 2, "user3": 2, "user4": 2}  # users x pairs the concurrency checks ingest


if __name__ == "__main__":  # build the tiny model + adapter into a folder (for manual runs)
    from tests.tiny_model import build_tiny_model

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/memmgr-tiny")
    model = build_tiny_model(out / "model")
    print(model, build_tiny_adapter(model, out / "adapter"))


def schema_errors(value, schema: dict, path: str = "$") -> list[str]:
    """A small JSON-schema check for the subset the manager schemas use (object, array, string, enum, required,
    additionalProperties false, maxItems, maxLength, anyOf): the main venv has no jsonschema."""
    if "anyOf" in schema:
        if any(not schema_errors(value, s, path) for s in schema["anyOf"]):
            return []
        return [f"{path}: matches no anyOf branch: {value!r}"[:200]]
    errs: list[str] = []
    kind = schema.get("type")
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: {value!r} not in {schema['enum']}")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        props = schema.get("properties", {})
        errs += [f"{path}: missing {k}" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            errs += [f"{path}: extra key {k}" for k in value if k not in props]
        for k, v in value.items():
            if k in props:
                errs += schema_errors(v, props[k], f"{path}.{k}")
    elif kind == "array":
        if not isinstance(value, list):
            return [f"{path}: not an array"]
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(f"{path}: {len(value)} items > {schema['maxItems']}")
        for i, v in enumerate(value):
            errs += schema_errors(v, schema.get("items", {}), f"{path}[{i}]")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{path}: not a string"]
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(f"{path}: {len(value)} chars > {schema['maxLength']}")
    return errs
