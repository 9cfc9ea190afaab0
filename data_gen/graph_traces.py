"""Graph-manager calls -> labelled examples (stages `graph_entities`, `graph_relations`, `graph_resolve`), in the
same row schema as the vector manager's (data_gen/recorder.py). The label is the canonical answer for what survived
validation (`call.context["accepted"]`), so a teacher's rejected items are not learnt; `shown_memories` holds the
relations a resolve call showed. `data_gen.traces.mix_stages` keeps these rows only at a `graph_fraction` > 0 (the
`graph_fraction` of train/sft.py and train/grpo.py), so a vector-only recipe never trains on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memmgr.graph.prompts import (
    GRAPH_PROMPT_VERSION,
    entities_output,
    relations_output,
    render_graph_for_style,
    resolve_output,
)
from memmgr.types import ManagerCall

if TYPE_CHECKING:
    from data_gen.generate import GenerateConfig

LABEL_KEYS = {"graph_entities": "entities", "graph_relations": "relations", "graph_resolve": "invalidate"}


def graph_label(call: ManagerCall) -> str:
    accepted = call.context.get("accepted", [])
    if call.stage == "graph_entities":
        return entities_output([tuple(e) for e in accepted])
    if call.stage == "graph_relations":
        return relations_output([tuple(t) for t in accepted])
    return resolve_output(accepted)


def graph_call_to_examples(call: ManagerCall, unit: dict[str, Any], cfg: GenerateConfig) -> list[dict[str, Any]]:
    """One row per prompt style for a valid graph call; [] for an invalid one."""
    from data_gen.recorder import example_row

    if not call.valid or call.stage not in LABEL_KEYS:
        return []
    label = graph_label(call)
    return [example_row(call, unit, cfg, prompt=render_graph_for_style(call.messages, call.stage, style), style=style,
                        label=label, shown=call.context.get("shown", []), gold_after="",
                        prompt_version=GRAPH_PROMPT_VERSION)
            for style in cfg.prompt_styles]
