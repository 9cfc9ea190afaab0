"""Life worlds: synthetic gold worlds that talk like LOCOMO (open-domain chat between two friends over dated
sessions), generated compositionally, with whole *topic families* held out for validation and test.

    from data_gen.life import generate_worlds
    worlds = generate_worlds(200, seed=0, split="train")      # World / GoldPair / GoldOp of data_gen.synthetic
    assert all(replay(w) == w.final_state for w in worlds)

- `families_a.py` / `families_b.py`: ten topic families, each with activities (said as dated events or as plans),
  ongoing states and opinion topics, templates whose slots are filled from the family's value lists and the
  speaker's people (named relatives and friends). `FAMILY_SPLITS`: train, validation and test use disjoint
  families, so held-out splits contain no predicate and no topic value seen in training.
- `talk.py`: shared lexicon (names, kinship, feelings, opinion phrases, reasons), relative dates resolved against
  the session date ("last Saturday" -> "on the Saturday before 8 May 2023"), fact-free small talk and wrappers.
- `generator.py`: the simulator (ADD / UPDATE / DELETE / NOOP from the evolving gold state), `dialogue.py`: turns
  (statement, story, small talk, answer to a question, photo share `[shares a photo of ...]`), `qa.py`: probes,
  `world.py`: a whole world (speakers and their people, dated sessions, per-pair checks).

Gold memories are dated third-person observations ("Maya went camping with her sister Anna at Yosemite on the
weekend of 6 May 2023"). Every fact is checked as the real pipeline checks it: sanitised and grounded in its own
two turns + the session date (support >= 0.6; the guard is 0.5), never a near-duplicate of a stored memory (hash
cosine < 0.9; the pipeline drops ADDs at 0.95), and an UPDATE/DELETE target is among the 5 memories nearest its
fact (the pipeline shows the top 10), so the oracle run reproduces `final_state` exactly.
"""

from __future__ import annotations

from data_gen.life.families_a import FAMILIES_A
from data_gen.life.families_b import FAMILIES_B
from data_gen.life.schema import Act, Family, State, slots_of
from data_gen.life.world import generate_world
from data_gen.synthetic.models import World

LIFE_VERSION = "3"  # v2: each speaker keeps their own facts; v3: long fact-free turns. Bump when the same seed
# yields different worlds (a resumed data_gen run refuses shards of another version)
FAMILIES: dict[str, Family] = {f.name: f for f in FAMILIES_A + FAMILIES_B}
FAMILY_SPLITS: dict[str, list[str]] = {
    "train": ["career", "family", "creative", "travel", "health", "home"],
    "validation": ["food", "money"],
    "test": ["community", "events"],
}
for _f in FAMILIES.values():
    _f.check()


def generate_worlds(n: int, seed: int = 0, split: str = "train", n_sessions: tuple[int, int] = (3, 30)
                    ) -> list[World]:
    if split not in FAMILY_SPLITS:
        raise ValueError(f"split must be one of {sorted(FAMILY_SPLITS)}")
    lo, hi = n_sessions
    if not 1 <= lo <= hi:
        raise ValueError(f"n_sessions must be (lo, hi) with 1 <= lo <= hi, got {n_sessions}")
    fams = [FAMILIES[f] for f in FAMILY_SPLITS[split]]
    return [generate_world(seed, i, split, fams, (lo, hi)) for i in range(n)]


def inventory(families: list[str] | None = None) -> dict[str, int]:
    """How much the families can say: predicate templates (activities usable as events and plans, states, opinion
    topics), their fact forms, and distinct slot values."""
    fams = [FAMILIES[f] for f in families or FAMILIES]
    acts = [a for f in fams for a in f.acts]
    states = [s for f in fams for s in f.states]
    values = {v for f in fams for vs in f.slots.values() for v in vs}
    return {"families": len(fams), "activities": len(acts), "states": len(states),
            "opinion_topics": sum(len(f.slots[t]) for f in fams for t in f.topics),
            "predicates": len(acts) + len(states) + sum(len(f.topics) for f in fams),
            "fact_forms": sum(4 if a.plan else 1 for a in acts) + sum(3 if s.stop else 2 for s in states)
            + 2 * sum(len(f.topics) for f in fams) + sum(1 for a in acts if a.noun and not a.who),
            "slot_values": len(values)}


__all__ = ["FAMILIES", "FAMILY_SPLITS", "LIFE_VERSION", "Act", "Family", "State", "generate_worlds", "inventory",
           "slots_of"]
