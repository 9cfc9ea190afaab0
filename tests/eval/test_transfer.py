"""Transfer metric on real dialogue (eval/transfer.py): memories against LOCOMO's observation annotations."""

import json
import logging

import pytest

from eval.locomo import EvalConfig, prepare_samples, run_locomo
from eval.locomo_data import Observation, limit_sample, load_samples
from eval.transfer import (
    OVERLAP_THRESHOLD,
    SIM_THRESHOLD,
    TransferConfig,
    conversation_transfer,
    match_facts,
    pool,
    redundant,
    store_every_turn_scopes,
    word_overlap,
)
from memmgr.conversations import locomo_observations as load_observations
from memmgr.embed import HashEmbedder
from tests.eval.locomo_fixture import tiny_locomo
from tests.eval.test_locomo_run import answerer_fn, base_cfg
from tests.helpers import ScriptedBackend

NAMES = ["Caroline", "Melanie"]
GOLD = "Caroline attended an LGBTQ support group"
PARAPHRASE = "Caroline went to a LGBTQ support group on 7 May 2023"
UNRELATED = "Caroline likes painting"
OTHER_DETAIL = "Caroline attended a painting class"


class ConstEmbedder:
    """Every text gets the same vector (cosine 1): only the word-overlap part of the match decides."""

    name, dim = "const", 2

    def embed(self, texts):
        return [[1.0, 0.0] for _ in texts]


class OrthoEmbedder:
    """Every text gets its own axis (cosine 0 between different texts): only identical texts pass the cosine."""

    name, dim = "ortho", 64

    def embed(self, texts):
        axes = {t: i for i, t in enumerate(dict.fromkeys(texts))}
        return [[1.0 if j == axes[t] else 0.0 for j in range(self.dim)] for t in texts]


# ------------------------------------------------------------------------------------------------ the match
def test_word_overlap_hand_cases():
    # content words minus the speakers' names: {went, lgbtq, support, group} vs {attend, lgbtq, support, group}
    assert word_overlap(PARAPHRASE, GOLD, NAMES) == pytest.approx(3 / 4)
    assert word_overlap(UNRELATED, GOLD, NAMES) == 0.0  # {paint} shares nothing once the name is ignored
    assert word_overlap(UNRELATED, GOLD) == pytest.approx(1 / 2)  # ...but "caroline" alone would give 0.5
    assert word_overlap(OTHER_DETAIL, GOLD, NAMES) == pytest.approx(1 / 3)  # {attend, paint, class}: same topic
    assert word_overlap("", GOLD) == 0.0 and word_overlap("the and of", GOLD) == 0.0
    assert word_overlap(PARAPHRASE, GOLD, NAMES) >= OVERLAP_THRESHOLD > word_overlap(OTHER_DETAIL, GOLD, NAMES)


def test_match_overlap_part_alone():
    """Cosine 1 everywhere: the paraphrase matches; the unrelated fact and the other detail do not."""
    res = match_facts([PARAPHRASE, UNRELATED, OTHER_DETAIL], [GOLD], ConstEmbedder(), ignore_words=NAMES)
    assert res["pred_matched"] == [True, False, False] and res["gold_matched"] == [True]
    assert res["recall"] == 1.0 and res["match_rate"] == pytest.approx(1 / 3)
    assert [(p["pred"], p["gold"]) for p in res["pairs"]] == [(0, 0)]
    assert res["pairs"][0]["overlap"] == pytest.approx(0.75) and res["pairs"][0]["sim"] == pytest.approx(1.0)


def test_match_cosine_part_alone():
    """Word overlap 1 but orthogonal vectors: no match (both conditions must hold)."""
    res = match_facts(["Caroline attended a LGBTQ support group"], [GOLD], OrthoEmbedder(), ignore_words=NAMES)
    assert res["recall"] == 0.0 and res["pairs"] == []
    same = match_facts([GOLD], [GOLD], OrthoEmbedder())
    assert same["recall"] == 1.0 and same["match_rate"] == 1.0


def test_match_with_hash_embedder():
    """Deterministic hash embedder (unigram+bigram hashing; its cosines are lower than MiniLM's, hence 0.35)."""
    res = match_facts([PARAPHRASE, UNRELATED, OTHER_DETAIL], [GOLD, "Melanie ran a charity race"], HashEmbedder(),
                      sim_threshold=0.35, ignore_words=NAMES)
    assert res["pred_matched"] == [True, False, False] and res["gold_matched"] == [True, False]
    assert res["recall"] == 0.5 and res["match_rate"] == pytest.approx(1 / 3)
    assert res["n_pred"] == 3 and res["n_gold"] == 2 and res["matched_pred"] == 1 and res["matched_gold"] == 1
    # the cosine gate alone rejects the unrelated fact even at overlap threshold 0
    loose = match_facts([UNRELATED], [GOLD], HashEmbedder(), sim_threshold=0.35, overlap_threshold=0.0)
    assert loose["recall"] == 0.0


def test_match_empty_sides():
    res = match_facts([], [GOLD], ConstEmbedder())
    assert res["recall"] == 0.0 and res["match_rate"] is None
    res = match_facts([GOLD], [], ConstEmbedder())
    assert res["recall"] is None and res["match_rate"] == 0.0
    assert (SIM_THRESHOLD, OVERLAP_THRESHOLD) == (TransferConfig().sim_threshold, TransferConfig().overlap_threshold)


# ------------------------------------------------------------------------------------------------ LOCOMO data
OBS = {
    "session_1_observation": {
        "Maya": [["Maya adopted a beagle called Pixel", "D1:1"], ["Maya works as a nurse", ["D1:3"]]],
        "Tom": [["Tom lives in Leeds with two cats", "D1:2"], ["Tom trains for the York marathon", "D1:4; D1:2"]],
    },
    "session_2_observation": {"Maya": [["Pixel learned to sit", "D2:1"], "", ["", "D2:1"]],
                              "Tom": [["Tom moved to York", "D2:2"]]},
}


def test_load_observations_formats_and_session_limit():
    obs = load_observations(OBS)
    assert [(o.speaker, o.dia_ids, o.session) for o in obs] == [
        ("Maya", ["D1:1"], 1), ("Maya", ["D1:3"], 1), ("Tom", ["D1:2"], 1), ("Tom", ["D1:4", "D1:2"], 1),
        ("Maya", ["D2:1"], 2), ("Tom", ["D2:2"], 2)]  # list ids, "a; b" strings, empty facts skipped
    assert load_observations(None) == [] and load_observations({"session_summary": {"x": 1}}) == []


@pytest.fixture
def obs_data(tmp_path):
    path = tiny_locomo(tmp_path / "locomo.json")
    data = json.loads(path.read_text())
    for s in data:
        s["observation"] = OBS
    path.write_text(json.dumps(data))
    return path


def test_limit_keeps_observations_of_ingested_sessions(obs_data):
    [s] = [x for x in load_samples(obs_data) if x.sample_id == "conv-30"]
    assert len(s.observations) == 6
    one = limit_sample(s, sessions=1, questions=None, categories={1, 2, 3, 4})
    assert [o.session for o in one.observations] == [1, 1, 1, 1]


def test_conversation_transfer_counts(obs_data):
    [s] = [x for x in load_samples(obs_data) if x.sample_id == "conv-30"]
    s = limit_sample(s, sessions=1, questions=None, categories={1, 2, 3, 4})
    cfg = TransferConfig()
    # store every turn: 2 turns per speaker in session 1; each turn covers its own dia_id
    scopes = store_every_turn_scopes(s)
    assert [(len(m), sp) for m, sp in scopes] == [(2, ["Maya"]), (2, ["Tom"])]
    assert scopes[0][0][0] == {"text": "I adopted a beagle called Pixel yesterday!", "source_ids": ["D1:1"]}
    res = conversation_transfer(s, scopes, ConstEmbedder(), cfg)
    # (speaker, dia_id) pairs: Maya D1:1, D1:3; Tom D1:2, D1:4 (D1:2 counted once): all four covered
    assert res["observation_ids"] == 4 and res["covered_ids"] == 4 and res["evidence_coverage"] == 1.0
    assert res["memories"] == 4 and res["stored_tokens"] > 0
    # memories in the wrong speaker's scope neither cover nor match that speaker's observations
    swapped = [(scopes[0][0], ["Tom"]), (scopes[1][0], ["Maya"])]
    bad = conversation_transfer(s, swapped, ConstEmbedder(), cfg)
    assert bad["covered_ids"] == 0 and bad["evidence_coverage"] == 0.0
    facts = [([{"text": "Maya adopted a beagle named Pixel", "source_ids": ["D1:1"]},
               {"text": "Maya is saving for a car", "source_ids": []}], ["Maya"]),
             ([{"text": "Tom lives in Leeds", "source_ids": ["D1:2"]}], ["Tom"])]
    got = conversation_transfer(s, facts, ConstEmbedder(), cfg)
    assert got["covered_ids"] == 2 and got["evidence_coverage"] == 0.5
    # both covered turns are cited by a memory that matches an observation of that turn (Maya D1:1, Tom D1:2)
    assert got["match_covered_ids"] == 2 and got["matched_coverage"] == 0.5
    # matched: Maya's beagle (3/3 words), Tom's Leeds ({live, leeds} inside {live, leeds, cats}); not the nurse,
    # the marathon; the car memory matches nothing
    assert got["matched_observations"] == 2 and got["observation_recall"] == 0.5
    assert got["matched_memories"] == 2 and got["memory_match_rate"] == pytest.approx(2 / 3)
    # every text is cosine 1 under ConstEmbedder: Maya's two memories restate each other; Tom's lone one cannot
    assert got["redundant_memories"] == 2 and got["memory_redundancy"] == pytest.approx(2 / 3)
    # the items say which: the car memory matched nothing; Maya's nurse observation was missed and not covered;
    # Tom's marathon (D1:4, D1:2) is covered through D1:2 (the Leeds memory) but matched by nothing
    mem = {i["text"]: i for i in got["items"] if i["kind"] == "memory"}
    assert not mem["Maya is saving for a car"]["matched"] and mem["Tom lives in Leeds"]["matched"]
    assert mem["Tom lives in Leeds"]["speakers"] == ["Tom"] and mem["Tom lives in Leeds"]["source_ids"] == ["D1:2"]
    obs = {i["text"]: i for i in got["items"] if i["kind"] == "observation"}
    assert len(obs) == 4 and sum(i["matched"] for i in obs.values()) == 2
    marathon = obs["Tom trains for the York marathon"]
    assert marathon["covered"] and not marathon["matched"] and marathon["speakers"] == ["Tom"]
    assert [i["covered"] for i in obs.values()] == [True, False, True, True]
    both = pool([got, got, None])
    assert both["observation_recall"] == 0.5 and both["memories"] == 3 and both["n_conversations"] == 2
    assert both["matched_coverage"] == 0.5


def test_matched_coverage_does_not_credit_a_chain(obs_data):
    """An UPDATE chain cites every turn it was rewritten on: coverage counts them all, matched coverage only the
    turns whose observation the memory's text matches."""
    [s] = [x for x in load_samples(obs_data) if x.sample_id == "conv-30"]
    s = limit_sample(s, sessions=1, questions=None, categories={1, 2, 3, 4})
    chain = [([{"text": "Maya adopted a beagle named Pixel", "source_ids": ["D1:1", "D1:3"]}], ["Maya"])]
    got = conversation_transfer(s, chain, ConstEmbedder(), TransferConfig())
    assert got["covered_ids"] == 2 and got["evidence_coverage"] == 0.5  # Maya D1:1 and D1:3 (the nurse turn)
    assert got["match_covered_ids"] == 1 and got["matched_coverage"] == 0.25  # only the beagle's turn
    # a matching memory that cites another turn than its observation's covers nothing
    wrong_turn = [([{"text": "Maya adopted a beagle named Pixel", "source_ids": ["D1:3"]}], ["Maya"])]
    got = conversation_transfer(s, wrong_turn, ConstEmbedder(), TransferConfig())
    assert got["matched_observations"] == 1 and got["matched_coverage"] == 0.0


# ------------------------------------------------------------------------------------------------ the harness
def _run(tmp_path, data, **over):
    cfg = base_cfg(tmp_path, **{"transfer": {"sim_threshold": 0.3}, **over})
    return run_locomo(cfg, data, backends={"answerer": ScriptedBackend(answerer_fn, name="ans")}, progress=False)


def test_run_reports_transfer_rows_and_columns(tmp_path, obs_data):
    out = _run(tmp_path, obs_data, methods=["mem0", "rag"])
    res = out["results"]
    assert list(res) == ["locomo_mem0", "locomo_rag", "transfer_store_every_turn", "transfer_rag_chunks"]
    mem0, turns, chunks = res["locomo_mem0"], res["transfer_store_every_turn"], res["transfer_rag_chunks"]
    # the echo manager stores every turn ("<name> said <text>", the other speaker's "<name> told <owner> <text>") in
    # both speakers' scopes, with its dia_id
    assert mem0["evidence_coverage"] == 1.0 and mem0["memories"] == 12
    assert turns["evidence_coverage"] == 1.0 and turns["memories"] == 6 and turns["manager_prompt_tokens"] == 0
    assert chunks["evidence_coverage"] == 1.0 and chunks["n_observations"] == 6
    for r in (mem0, turns, chunks):
        assert 0.0 <= r["observation_recall"] <= 1.0 and 0.0 <= r["memory_match_rate"] <= 1.0
    assert "observation_recall" not in res["locomo_rag"]  # the RAG method's chunks are the reference row
    [conv] = mem0["costs"]
    assert conv["transfer"]["observations"] == 6 and conv["transfer"]["memories"] == 12
    assert "items" not in conv["transfer"]  # they are samples: one line per memory and per observation
    items = out["samples"]["locomo_mem0_transfer"]
    assert len(items) == 12 + 6 and {i["conversation_id"] for i in items} == {"conv-30"}
    assert len(out["samples"]["transfer_store_every_turn"]) == 6 + 6
    assert turns["per_conversation"][0]["conversation_id"] == "conv-30"
    doc = json.loads(open(out["paths"]["results"]).read())
    assert set(doc["samples"]) >= {"locomo_mem0", "locomo_mem0_transfer", "transfer_rag_chunks"}
    for task in ("locomo_mem0", "transfer_store_every_turn", "transfer_rag_chunks"):
        hib = doc["higher_is_better"][task]
        assert hib["evidence_coverage"] and hib["observation_recall"] and hib["memory_match_rate"]
        assert hib["stored_tokens"] is False
    md = out["paths"]["markdown_text"]
    assert "obs. recall" in md and "| transfer_store_every_turn |" in md and "mem. match rate" in md
    assert len(out["paths"]["plots"]) == 3 and out["transfer_embedder"] == "hash-384"


def test_turns_method_stores_every_turn_and_answers_like_mem0(tmp_path, obs_data):
    out = _run(tmp_path, obs_data, methods=["turns"], top_k=1)
    res = out["results"]
    turns, ref = res["locomo_turns"], res["transfer_store_every_turn"]
    # the same turns as the reference row, stored through the real store (infer=False) and scored the same way
    for k in ("memories", "evidence_coverage", "observation_recall", "memory_match_rate"):
        assert turns[k] == ref[k], k
    assert turns["manager_calls"] == 0 and turns["manager_prompt_tokens"] == 0
    [rec] = [r for r in out["samples"]["locomo_turns"]][:1]
    assert len(rec["retrieved"]) == 2  # top_k=1 per speaker: recall@k does not get every memory
    assert all(r["source_ids"] for r in rec["retrieved"]) and rec["evidence_recall"] is not None


def test_transfer_switch_and_missing_observations(tmp_path, obs_data, caplog):
    off = _run(tmp_path, obs_data, methods=["mem0"], transfer={"enabled": False})
    assert list(off["results"]) == ["locomo_mem0"] and "observation_recall" not in off["results"]["locomo_mem0"]
    no_refs = _run(tmp_path, obs_data, methods=["rag"], transfer={"references": False})
    assert list(no_refs["results"]) == ["locomo_rag"]
    plain = tiny_locomo(tmp_path / "plain.json")  # no `observation` key at all
    with caplog.at_level(logging.INFO, logger="eval.locomo"):
        out = _run(tmp_path, plain, methods=["mem0"])
    assert list(out["results"]) == ["locomo_mem0"] and out["transfer_embedder"] is None
    assert "observation_recall" not in out["results"]["locomo_mem0"]
    assert any("transfer metrics skipped" in r.message for r in caplog.records)


def test_shared_dev_observations(locomo_dev_path):
    samples = {s.sample_id: s for s in load_samples(locomo_dev_path)}
    assert len(samples["conv-26"].observations) == 184 and len(samples["conv-30"].observations) == 169
    assert any(len(o.dia_ids) > 1 for o in samples["conv-30"].observations)  # a list of dia_ids in the file
    cfg = EvalConfig.model_validate({"split": "validation", "limit": {"sessions": 2}})
    [s] = prepare_samples(cfg, locomo_dev_path)
    assert s.observations and {o.session for o in s.observations} == {1, 2}
    assert all(isinstance(o, Observation) for o in s.observations)


def test_redundant_memories_within_a_scope():
    emb = HashEmbedder(dim=256)
    texts = ["Jon opened a dance studio", "Jon opened a dance studio", "Gina sells clothes online"]
    assert redundant(texts, emb, 0.85) == [True, True, False]  # the same text twice; the third stands alone
    assert redundant(texts[:1], emb, 0.85) == [False] and redundant([], emb, 0.85) == []
    assert redundant(texts, ConstEmbedder(), 1.01) == [False, False, False]  # nothing reaches a cosine above 1


# ------------------------------------------------------------------------------------------------ rescoring
def test_rescore_items_gives_the_run_figures_again(obs_data, tmp_path):
    """A run's transfer samples hold everything: scored again they give the same rates (and the same rows per
    (seed, conversation)); a file that is not transfer samples is a one-line error."""
    from eval.transfer import main, rescore_items

    [s] = [x for x in load_samples(obs_data) if x.sample_id == "conv-30"]
    s = limit_sample(s, sessions=1, questions=None, categories={1, 2, 3, 4})
    scopes = [([{"text": "Maya adopted a beagle named Pixel", "source_ids": ["D1:1", "D1:3"]},
                {"text": "Maya is saving for a car", "source_ids": []}], ["Maya"]),
              ([{"text": "Tom lives in Leeds", "source_ids": ["D1:2"]}], ["Tom"])]
    run = conversation_transfer(s, scopes, ConstEmbedder(), TransferConfig())
    items = [{"seed": 0, "conversation_id": "conv-30", **it} for it in run["items"]]
    again = rescore_items(items, ConstEmbedder(), TransferConfig())
    for k in ("evidence_coverage", "matched_coverage", "observation_recall", "memory_match_rate",
              "memory_redundancy", "memories"):
        assert again[k] == pytest.approx(run[k]), k
    two = rescore_items(items + [{**it, "seed": 1} for it in items], ConstEmbedder(), TransferConfig())
    assert len(two["per_conversation"]) == 2 and two["matched_coverage"] == pytest.approx(run["matched_coverage"])
    stricter = rescore_items(items, ConstEmbedder(), TransferConfig(overlap_threshold=1.01))
    assert stricter["observation_recall"] == 0.0 and stricter["evidence_coverage"] == run["evidence_coverage"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "f1": 0.5}) + "\n")
    with pytest.raises(SystemExit, match="error: not a transfer sample"):
        main(["--name", "x", "--samples", f"[{bad}]", "--embedder", "{provider: hash}",
              "--output_dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="error: .*missing.jsonl not found"):
        main(["--name", "x", "--samples", f"[{tmp_path / 'missing.jsonl'}]", "--output_dir", str(tmp_path)])
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(it) + "\n" for it in items))
    out = main(["--name", "x", "--samples", f"[{good}]", "--embedder", "{provider: hash}",
                "--output_dir", str(tmp_path)])
    assert list(out["results"]) == ["x / good"] and out["results"]["x / good"]["memories"] == 3
