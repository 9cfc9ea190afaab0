"""Where traces come from: the units of work (one conversation each) of a source, their split, the teacher that
labels them and the `memmgr.Memory` each one runs through.

- `load_units(cfg)`: synthetic or life gold worlds (split = generation split), LOCOMO JSON or dialogue JSONL (split =
  `source.split_of`, else `hash_split`, a stable 80/10/10 hash of the conversation id).
- `make_teacher(cfg, unit, shared)`: the oracle (per world) or one shared memmgr backend, wrapped in
  `BatchingBackend` / `SelfConsistentBackend` when the config asks for it.
- `make_memory(cfg, teacher)`: a fresh `Memory` with the teacher as manager and the process-wide embedder
  (`shared_embedder`).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from memmgr.config import BackendConfig, MemoryConfig

if TYPE_CHECKING:
    from data_gen.generate import GenerateConfig


def load_units(cfg: GenerateConfig) -> list[dict[str, Any]]:
    """Each unit is one conversation: {'id', 'split', and 'world' (synthetic) or 'conversation' (real sources)}."""
    src = cfg.source
    if src.kind in ("synthetic", "life"):  # life: LOCOMO-like worlds, topic families held out (data_gen/life)
        if src.kind == "life":
            from data_gen.life import generate_worlds
        else:
            from data_gen.synthetic import generate_worlds

        return [{"id": w.world_id, "split": split, "world": w}
                for split, n in src.worlds.items() for w in generate_worlds(n, cfg.seed, split, src.n_sessions)]
    if not src.path:
        raise ValueError(f"source.path is required for source.kind={src.kind}")
    if src.kind == "jsonl":
        from data_gen.dialogues import load_dialogues  # checked: traces need dated sessions

        convs = load_dialogues(src.path)
    else:
        from memmgr.conversations import load_locomo_conversations

        convs = load_locomo_conversations(src.path)
    if src.samples:
        convs = [c for c in convs if c.conversation_id in src.samples]
    return [{"id": c.conversation_id, "split": src.split_of.get(c.conversation_id) or hash_split(c.conversation_id),
             "conversation": c} for c in convs]


def hash_split(cid: str) -> str:
    """A stable split for a conversation id: 80% train, 10% validation, 10% test."""
    h = int(hashlib.md5(cid.encode()).hexdigest(), 16) % 10
    return "train" if h < 8 else "validation" if h == 8 else "test"


def make_teacher(cfg: GenerateConfig, unit: dict[str, Any], shared: dict[str, Any]) -> Any:
    """The unit's teacher: an oracle over its world, or the backend cached in `shared` (built on first use)."""
    if cfg.teacher == "oracle":
        if "world" not in unit:
            raise ValueError("the oracle teacher needs the synthetic source")
        if cfg.graph.mode != "vector":  # also answers the graph manager's prompts from the gold
            from data_gen.graph_oracle import GraphOracleBackend

            return GraphOracleBackend([unit["world"]])
        from data_gen.oracle import OracleBackend

        return OracleBackend([unit["world"]])
    if cfg.teacher == "observations":
        if "conversation" not in unit:
            raise ValueError("the observations teacher needs a LOCOMO source (source.kind: locomo)")
        from data_gen.observations import ObservationsTeacher

        rule = cfg.observation_rule
        return ObservationsTeacher(unit["conversation"], shared_embedder(cfg), sim=rule.sim, overlap=rule.overlap)
    if "backend" not in shared:  # one model instance for all units (loading is the expensive part)
        from memmgr.backends import make_backend

        backend = make_backend(cfg.teacher)
        if cfg.concurrency > 1 and hasattr(backend, "generate_batch"):
            # offline engines (vLLM, transformers): calls of concurrent conversations go out as one batch
            from data_gen.batching import BatchingBackend

            backend = BatchingBackend(backend, max_batch=cfg.concurrency, max_wait_s=cfg.batch_wait_s)
        if cfg.self_consistency > 1:
            from data_gen.consistency import SelfConsistentBackend

            backend = SelfConsistentBackend(backend, cfg.self_consistency, cfg.self_consistency_temperature)
        shared["backend"] = backend
    return shared["backend"]


def make_memory(cfg: GenerateConfig, teacher: Any) -> Any:
    """A fresh in-memory `Memory` for one unit, with `teacher` as its manager."""
    from memmgr.memory import Memory

    mcfg = MemoryConfig(manager=cfg.teacher if isinstance(cfg.teacher, BackendConfig) else BackendConfig(),
                        embedder=cfg.embedder, pipeline=cfg.pipeline, guards=cfg.guards, graph=cfg.graph)
    return Memory(mcfg, manager=teacher, embedder=shared_embedder(cfg))


_EMBEDDERS: dict[str, Any] = {}  # embedder config (JSON) -> embedder, for the whole process


def shared_embedder(cfg: GenerateConfig) -> Any:
    """The embedder for `cfg.embedder`, built once per process and shared by every unit."""
    from memmgr.embed import make_embedder

    key = cfg.embedder.model_dump_json()
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = make_embedder(cfg.embedder)
    return _EMBEDDERS[key]
