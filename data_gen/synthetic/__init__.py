"""Synthetic gold worlds: seeded personas whose attributes evolve over dated sessions, with gold facts and gold
ADD/UPDATE/DELETE/NOOP ops for every message pair, the gold final memory state and QA probes.

    from data_gen.synthetic import generate_worlds, replay, save_worlds
    worlds = generate_worlds(200, seed=0, split="train", n_sessions=(3, 30))
    assert all(replay(w) == w.final_state for w in worlds)

- `phrasing.py`: attribute slots (canonical memory sentences) and phrasing families; `FAMILY_SPLITS` reserves
  families for validation and test so a model cannot pass by memorising templates.
- `generator.py`: the seeded simulator (first mention ADD, restatement NOOP, change UPDATE, retraction DELETE;
  chit-chat, relative dates resolved to absolute ones, a relative as a distractor person, multi-fact turns; the
  friend's facts are the friend's own: each op names its `speaker`, and a speaker's memory scope keeps only their
  facts, as Mem0 ingests a two-speaker conversation) and the QA probes (single-hop, multi-hop, temporal).
- `models.py`: World / GoldPair / GoldOp (pydantic, JSON), `replay`, `save_worlds` / `load_worlds` (JSONL).
"""

from data_gen.synthetic.generator import NAMES, generate_world, generate_worlds, relative_future, relative_past
from data_gen.synthetic.models import GoldOp, GoldPair, SessionInfo, World, load_worlds, replay, save_worlds
from data_gen.synthetic.phrasing import EVENTS, FAMILIES, FAMILY_SPLITS, SLOTS, templates

GENERATOR_VERSION = "3"  # v3: each speaker keeps their own facts; bump when the same seed yields different worlds (resumed trace runs check it)

__all__ = ["EVENTS", "FAMILIES", "FAMILY_SPLITS", "GENERATOR_VERSION", "NAMES", "SLOTS", "GoldOp", "GoldPair",
           "SessionInfo", "World",
           "generate_world", "generate_worlds", "load_worlds", "relative_future", "relative_past", "replay",
           "save_worlds", "templates"]
