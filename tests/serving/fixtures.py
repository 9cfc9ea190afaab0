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
USERS = ["maya", "user1", "user2", "user3"]


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


def teacher_traces(plan: dict[str, int], prompt_style: str = "student") -> list[tuple[list[dict], str]]:
    """(prompt messages, answer) of every manager call the pipeline makes for `plan` ({user: pairs}) when the
    manager answers like `teacher`."""
    from memmgr import Memory, MemoryConfig
    from tests.helpers import ScriptedBackend

    rows: dict[str, tuple[list[dict], str]] = {}
    mem = Memory(MemoryConfig.load({"embedder": {"provider": "hash"}, "manager": {"prompt_style": prompt_style}}),
                 manager=ScriptedBackend(teacher),
                 trace_hooks=[lambda c: rows.setdefault(json.dumps(c.messages), (c.messages, c.raw_output))])
    for user, n in plan.items():
        for pair in conversation(user, n):
            mem.add(pair, user_id=user)
    mem.close()
    return list(rows.values())


def build_memorized_adapter(model_dir: str | Path, out_dir: str | Path, rows: list[tuple[list[dict], str]], *,
                            rank: int = 32, steps: int = 300, lr: float = 1e-2, seed: int = 0) -> dict:
    """A LoRA adapter (all linear layers) that makes the tiny random model answer `rows` exactly: the engine
    tests then get a manager whose answers are known. Completion-only loss, plain torch; ~10-20 s on 1 core."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from memmgr.manager_card import write_manager_card

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(
        r=rank, lora_alpha=rank, lora_dropout=0.0, task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    seqs = []
    for messages, answer in rows:
        prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        a_ids = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        seqs.append((p_ids + a_ids, [-100] * len(p_ids) + a_ids))
    width = max(len(ids) for ids, _ in seqs)
    input_ids = torch.full((len(seqs), width), tok.pad_token_id)
    labels = torch.full((len(seqs), width), -100)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(seqs):
        input_ids[i, :len(ids)], labels[i, :len(lab)], mask[i, :len(ids)] = torch.tensor(ids), torch.tensor(lab), 1
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    loss = None
    for step in range(steps):
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.002 and step > 20:
            break
    model.eval()
    with torch.no_grad():  # greedy check of every answer, teacher-forced: all argmax tokens right?
        logits = model(input_ids=input_ids, attention_mask=mask).logits
        pred = logits[:, :-1].argmax(-1)
        target = labels[:, 1:]
        exact = bool(((pred == target) | (target == -100)).all())
    model.save_pretrained(str(out_dir))
    write_manager_card(out_dir, prompt_style="student", base_model=str(model_dir), trained_by="tests/serving")
    return {"adapter": str(out_dir), "steps": step + 1, "loss": float(loss), "exact": exact,
            "seconds": time.perf_counter() - t0, "rows": len(rows)}


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


ENGINE_PLAN = {"maya": 3, "user1": 2, "user2": 2, "user3": 2}  # what the engine tests ingest


def build_assets(out: str | Path) -> dict:
    """The tiny model and the adapter that memorised the teacher's answers on ENGINE_PLAN."""
    from tests.tiny_model import build_tiny_model

    out = Path(out)
    model = build_tiny_model(out / "model")
    info = build_memorized_adapter(model, out / "adapter", teacher_traces(ENGINE_PLAN))
    return {"model": model, **info}


if __name__ == "__main__":  # build the tiny model + adapter into a folder (for manual runs)
    print(json.dumps(build_assets(sys.argv[1] if len(sys.argv) > 1 else "/tmp/memmgr-tiny"), indent=1))
