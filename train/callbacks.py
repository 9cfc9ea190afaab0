"""The SFT callback that reports manager metrics (validity, op macro-F1, fact F1, ...) at every evaluation.

It answers validation rows with the model being trained (`data_gen.traces.answer_rows`) and scores them with
`memmgr.scoring` (`score_row`, `aggregate`): the same two halves `eval.manager` puts together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

LOGGED = ("json_validity", "parseable_rate", "fact_f1", "op_accuracy", "op_macro_f1", "hallucinated_id_rate",
          "outcome_f1", "change_f1")


def make_manager_metrics_callback(rows: Sequence[dict[str, Any]], tokenizer: Any, *, max_tokens: int = 128,
                                  batch_size: int = 8) -> Any:
    """A TrainerCallback that, at every evaluation, generates on `rows` (prompts as the rows hold them: already in
    the training prompt style) and logs the manager metrics next to eval_loss (as eval_manager/<metric>)."""
    from transformers import TrainerCallback

    from data_gen.traces import answer_rows
    from memmgr.backends.hf import TransformersBackend
    from memmgr.scoring import aggregate, score_row

    class ManagerMetricsCallback(TrainerCallback):
        def __init__(self) -> None:
            self.history: list[dict[str, Any]] = []

        def on_evaluate(self, args: Any, state: Any, control: Any, model: Any = None, metrics: Any = None,
                        **kwargs: Any) -> None:
            if model is None or not rows or not state.is_world_process_zero:
                return
            backend = TransformersBackend.from_model(model, tokenizer, max_tokens=max_tokens, batch_size=batch_size,
                                                     name="in-training")
            gens, _ = answer_rows(backend, rows, max_tokens=max_tokens, progress=False)
            res = aggregate([score_row(r, g.text) for r, g in zip(rows, gens, strict=True)])
            logged = {f"eval_manager/{k}": res[k] for k in LOGGED if res.get(k) is not None}
            if metrics is not None:
                metrics.update(logged)
            # Trainer logged eval metrics before this hook ran: record ours in the history it saves too
            state.log_history.append({"step": state.global_step, **logged})
            self.history.append({"step": state.global_step, **logged})
            log.info("step %d manager metrics: %s", state.global_step, logged)

    return ManagerMetricsCallback()
