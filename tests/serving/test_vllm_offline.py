"""The vLLM offline engine (VLLMBackend) for real, in .venv-vllm: tiny random model + LoRA adapter, one engine start
for the module (tests/serving/vllm_worker.py does the work and reports; these tests read the report)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.serving.fixtures import ENGINE_PLAN, ROOT, engine_env

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture(scope="module")
def report(vllm_py, tiny_assets, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("vllm_offline")
    spec, out = d / "spec.json", d / "report.json"
    spec.write_text(json.dumps({**tiny_assets, "pairs": 3, "samples": 4}))
    proc = subprocess.run([vllm_py, str(ROOT / "tests" / "serving" / "vllm_worker.py"), str(spec), str(out)],
                          env=engine_env(), cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not out.exists():
        pytest.fail(f"vllm worker failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return json.loads(out.read_text())


def test_engine_serves_the_adapter_with_its_card(report):
    assert report["lora"] is True and report["prompt_style"] == "student"
    assert report["engine_start_s"] < 240


def test_structured_output_is_schema_valid_json_even_for_a_random_model(report):
    checks = report["structured"]
    assert len(checks) == 8 and {c["stage"] for c in checks} == {"extract", "update"}
    assert [c["error"] for c in checks] == [None] * len(checks), checks


def test_pipeline_ingests_a_conversation_through_the_engine(report):
    p = report["pipeline"]
    assert p["adds"] == 3
    extracts = [c for c in p["calls"] if c["stage"] == "extract"]
    assert len(extracts) == 3 and all(c["style"] == "student" for c in p["calls"])
    assert all(c["valid"] and c["attempts"] == 1 for c in p["calls"]), p["calls"]  # no retry was needed
    assert p["consistency"]["missing_vectors"] == p["consistency"]["orphan_vectors"] == 0


def test_gated_pipeline_gets_a_fact_from_every_extracted_pair(report):
    """A gate model ranks the pairs on an engine that cannot force an output opening: skipped pairs make no
    generation, extracted ones carry a `minItems: 1` schema that the engine honours even for a random model."""
    extracts = [c for c in report["gated"]["calls"] if c["stage"] == "extract"]
    taken = [c for c in extracts if c["gate"]["extract"]]
    skipped = [c for c in extracts if not c["gate"]["extract"]]
    assert len(extracts) == 5 and taken and skipped
    assert all(c["attempts"] == 0 for c in skipped)
    assert all(c["valid"] and c["raw_facts"] >= 1 for c in taken), taken
    assert report["gated"]["facts_min_items"] == [1] * len(taken)  # what the engine was held to


def test_concurrent_users_share_the_engine_in_batches(report):
    a, s = report["async"], report["sequential"]
    assert max(a["batch_sizes"]) > 1  # calls of different users went into one engine call
    assert a["memories"] == s["memories"] == report["expected"]  # nothing lost, duplicated or reordered
    assert a["history_rows"] == s["history_rows"] == {u: n for u, n in ENGINE_PLAN.items()}
    assert a["consistency"]["missing_vectors"] == a["consistency"]["orphan_vectors"] == 0
