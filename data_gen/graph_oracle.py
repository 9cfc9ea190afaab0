"""The graph oracle: answers the graph manager's three prompts (memmgr.graph) from a synthetic world's gold, and
scores the graph the real pipeline builds with it against the gold relations.

Gold relations come from the worlds' canonical memory sentences (`SLOTS` templates, events, "Maya's brother Tom"):
"Maya lives in Lisbon" -> (Maya, lives_in, Lisbon); "Maya's brother Tom works as a nurse" -> (Tom, works_as, nurse)
and (Tom, brother_of, Maya); "Maya visited Rome in May 2023" -> (Maya, visited, Rome). Per pair the oracle names the
entities of the facts its gold ops touch, the triples of ADD / UPDATE (and NOOP: a restatement, which the pipeline
sees as already present) facts, and, at conflict resolution, the shown relations that an UPDATE or DELETE made
obsolete (the target's triple). The kinship triple of a relative is never obsolete.

    python -m data_gen.graph_oracle --worlds 20 --split test     # precision / recall of the final graph vs gold
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Sequence

from data_gen.oracle import OracleBackend
from data_gen.synthetic import EVENTS, SLOTS, GoldPair, World, replay
from memmgr.backends.base import Generation
from memmgr.graph.prompts import (
    entities_output,
    graph_stage_of,
    parse_graph_input,
    relations_output,
    resolve_output,
)
from memmgr.sanitize import norm_text

RELATION_OF_SLOT = {"city": "lives_in", "job": "works_as", "pet": "has_pet", "hobby": "enjoys",
                    "instrument": "plays", "diet": "has_diet", "partner": "is_dating", "car": "drives",
                    "health": "recovering_from", "food": "favourite_food", "plan": "plans_to_travel_to"}
TYPE_OF_SLOT = {"partner": "person", "plan": "country"}
_KIN_RE = re.compile(r"^(?P<owner>[\w-]+)'s (?P<kin>[a-z]+) (?P<who>[\w-]+)$")
_ARTICLES = ("a ", "an ", "the ")
Triple = tuple[str, str, str]


def _slot_patterns() -> list[tuple[str, re.Pattern]]:
    out = []
    for slot, spec in SLOTS.items():
        values = "|".join(re.escape(v) for v in sorted(spec.values, key=len, reverse=True))
        rx = re.escape(spec.memory).replace(re.escape("{n}"), r"(?P<n>.+?)").replace(
            re.escape("{v}"), f"(?P<v>{values})").replace(re.escape("{when}"), r"(?P<when>.+)")
        out.append((slot, re.compile(f"^{rx}$")))
    return out


_PATTERNS = _slot_patterns()


def _strip_article(text: str) -> str:
    return next((text[len(a):] for a in _ARTICLES if text.startswith(a)), text)


def fact_triples(text: str) -> list[tuple[Triple, tuple[str, str]]]:
    """The gold triples of one canonical memory sentence, each with its (source type, destination type); the
    fact's own triple first, then a relative's kinship triple. [] for a text that is no memory (a retraction)."""
    subject, triple, types = None, None, ("person", "entity")
    for slot, rx in _PATTERNS:
        if m := rx.match(text):
            subject, dest = m["n"], m["v"]
            triple = (subject, RELATION_OF_SLOT[slot], _strip_article(dest))
            types = ("person", TYPE_OF_SLOT.get(slot, slot))
            break
    else:
        for past, _ in EVENTS:
            name, sep, _ = text.partition(f" {past} ")
            if sep and name:
                verb, _, obj = past.partition(" ")
                for prep in ("to ", "at "):
                    if obj.startswith(prep):
                        verb, obj = f"{verb}_{prep.strip()}", obj[len(prep):]
                subject, triple, types = name, (name, verb, _strip_article(obj)), ("person", "event")
                break
    if triple is None or subject is None:
        return []
    out = []
    kin = _KIN_RE.match(subject)
    if kin:  # "Maya's brother Tom lives in Oslo": the fact is Tom's, and Tom is Maya's brother
        triple = (kin["who"], triple[1], triple[2])
        out.append((triple, types))
        out.append(((kin["who"], f"{kin['kin']}_of", kin["owner"]), ("person", "person")))
        return out
    return [(triple, types)]


def fact_when(text: str) -> str | None:
    """The date a canonical memory sentence carries: a plan's or an event's resolved phrase ("in June 2023",
    "in the week before 8 May 2023"); None for undated facts."""
    for _, rx in _PATTERNS:
        if (m := rx.match(text)) and "when" in rx.groupindex:
            return m["when"]
        if m:
            return None
    for past, _ in EVENTS:
        name, sep, rest = text.partition(f" {past} ")
        if sep and name:
            return rest
    return None


def pair_gold(pair: GoldPair) -> tuple[list[tuple[str, str]], list[Triple], list[Triple]]:
    """(entities with types, triples to assert, triples made obsolete) of one gold pair."""
    entities: dict[str, tuple[str, str]] = {}
    asserted: list[Triple] = []
    obsolete: list[Triple] = []

    def note(triples: list[tuple[Triple, tuple[str, str]]], assert_them: bool) -> None:
        for (s, r, d), (ts, td) in triples:
            entities.setdefault(norm_text(s), (s, ts))
            entities.setdefault(norm_text(d), (d, td))
            if assert_them and (s, r, d) not in asserted:
                asserted.append((s, r, d))

    for op in pair.ops:
        if op.event in ("ADD", "UPDATE"):
            note(fact_triples(op.text), True)
        elif op.event == "NOOP":
            note(fact_triples(op.target or ""), True)
        if op.event in ("UPDATE", "DELETE"):
            target = fact_triples(op.target or "")
            if op.event == "DELETE":
                note(target, False)
            obsolete += [t for t, _ in target[:1]]  # never the kinship triple
    return list(entities.values()), asserted, obsolete


def _key(t: Sequence[str]) -> tuple[str, ...]:
    return tuple(norm_text(x) for x in t)


class GraphOracleBackend(OracleBackend):
    """OracleBackend (vector prompts) that also answers the graph prompts from the gold."""

    def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None) -> Generation:
        try:
            stage = graph_stage_of(messages)
        except ValueError:
            return super().generate(messages, json_schema=json_schema, max_tokens=max_tokens, temperature=temperature)
        inp = parse_graph_input(messages)
        pair = next((self.pairs[t["id"]] for t in inp.get("new", []) if t["id"] in self.pairs), None)
        if pair is None:
            self.unknown_prompts += 1
        ents, asserted, obsolete = pair_gold(pair) if pair else ([], [], [])
        if stage == "graph_entities":
            text = entities_output(ents)
        elif stage == "graph_relations":
            listed = {norm_text(n) for n, _ in inp.get("entities", [])}
            dates = {t[0]: fact_when(op.text) for op in pair.ops if op.event in ("ADD", "UPDATE")
                     for t in fact_triples(op.text)[:1]} if pair else {}
            text = relations_output([(*t, dates.get(t)) for t in asserted
                                     if norm_text(t[0]) in listed and norm_text(t[2]) in listed])
        else:
            gone = {_key(t) for t in obsolete}
            text = resolve_output([i for i, t in inp.get("existing", []) if _key(t) in gone])
        return Generation(text=text, prompt_tokens=sum(len(m["content"].split()) for m in messages),
                          completion_tokens=len(text.split()))


def world_gold_relations(world: World) -> set[tuple[str, ...]]:
    """The relations that hold at the end of the world: the triples of both speakers' final memory states (the
    graph oracle answers a pair's graph prompts with all its relations, whoever said them)."""
    return {_key(t) for s in world.speakers for text in replay(world, s) for t, _ in fact_triples(text)}


def run_graph_world(world: World, memory_config: dict | None = None, embedder: object = None) -> dict:
    """Feed a world through the real pipeline (graph only) with the graph oracle; the final valid relations
    against the gold ones, and the rejections by reason. `embedder`: one to reuse across worlds."""
    from memmgr.config import MemoryConfig
    from memmgr.memory import Memory
    from memmgr.types import Scope

    cfg = memory_config or {"embedder": {"provider": "hash"}, "graph": {"mode": "graph"}}
    oracle = GraphOracleBackend([world])
    reasons: Counter[str] = Counter()
    with Memory(MemoryConfig.load(cfg), manager=oracle, embedder=embedder) as mem:
        for p in world.pairs:
            out = mem.add(p.messages, user_id=world.user_id, timestamp=p.messages[0].timestamp)
            reasons.update(f"{r['stage']}:{r['reason']}" for r in out["rejected"])
        got = {_key((r["source"], r["relationship"], r["destination"]))
               for r in mem.graph.get_all(Scope(user_id=world.user_id))}
        n_all = len(mem.graph.get_all(Scope(user_id=world.user_id), include_invalid=True))
    gold = world_gold_relations(world)
    return {"world_id": world.world_id, "gold": len(gold), "predicted": len(got), "correct": len(gold & got),
            "stored_with_invalidated": n_all, "rejected": dict(reasons), "missing": sorted(gold - got)[:5],
            "extra": sorted(got - gold)[:5], "unknown_prompts": oracle.unknown_prompts}


def score(worlds: Sequence[World], memory_config: dict | None = None) -> dict:
    """Micro precision / recall / F1 of the final graphs against the gold relations over `worlds`."""
    from memmgr.config import MemoryConfig
    from memmgr.embed import make_embedder

    shared = make_embedder(MemoryConfig.load(memory_config).embedder) if memory_config else None
    rows = [run_graph_world(w, memory_config, shared) for w in worlds]
    correct, pred, gold = (sum(r[k] for r in rows) for k in ("correct", "predicted", "gold"))
    p, r = correct / pred if pred else 0.0, correct / gold if gold else 0.0
    reasons: Counter[str] = Counter()
    for row in rows:
        reasons.update(row["rejected"])
    return {"worlds": len(rows), "gold_relations": gold, "predicted_relations": pred, "precision": round(p, 4),
            "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "rejected": dict(reasons.most_common()), "per_world": rows}


def main(argv: Sequence[str] | None = None) -> None:
    from data_gen.synthetic import generate_worlds

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", type=int, default=20)
    ap.add_argument("--split", default="test")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--embedder", choices=["hash", "sentence-transformers"], default="hash",
                    help="entity resolution's embedder (sentence-transformers = all-MiniLM-L6-v2, offline)")
    ap.add_argument("--per-world", action="store_true", help="also print every world's row")
    args = ap.parse_args(argv)
    cfg = {"embedder": {"provider": args.embedder}, "graph": {"mode": "graph"}}
    out = score(generate_worlds(args.worlds, seed=args.seed, split=args.split), cfg)
    if not args.per_world:
        out.pop("per_world")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
