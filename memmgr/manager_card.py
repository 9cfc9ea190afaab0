"""The manager card: what a trained manager was trained with, written next to its weights.

`train/sft.py` and `train/grpo.py` write `memmgr_manager.json` into the adapter folder, `train/merge.py` copies it
into the merged model, and every local backend (transformers, vLLM) reads it, so the prompt style an adapter was
trained under travels with it: a student adapter is served the student prompt without anyone restating it. A config
that names another style wins, with a warning (that is an experiment, not the default).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CARD_FILE = "memmgr_manager.json"
PROMPT_STYLES = ("teacher", "student")
AUTO = "auto"  # `extra.adapter: auto` = the student `make demo` published for this base model, if any


def students_dir() -> Path:
    return Path(os.environ.get("MEMMGR_CACHE", Path.home() / ".cache" / "memmgr")) / "students"


def _slug(model: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in model.strip("/")) or "model"


def published_student(model: str) -> str | None:
    """The adapter folder published for base `model` (by the main job), or None."""
    path = students_dir() / _slug(model)
    return str(path) if (path / "adapter_config.json").is_file() else None


def publish_student(adapter_dir: str | Path, model: str) -> str:
    """Copy a trained adapter (with its manager card) to where `extra.adapter: auto` finds it; returns the path."""
    dest = students_dir() / _slug(model)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(adapter_dir, tmp, ignore=shutil.ignore_patterns("checkpoint-*", "runs"))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)  # a reader never sees a half-copied adapter
    return str(dest)


def write_manager_card(folder: str | Path, *, prompt_style: str, **extra: Any) -> Path:
    if prompt_style not in PROMPT_STYLES:
        raise ValueError(f"prompt_style must be one of {PROMPT_STYLES}, got {prompt_style!r}")
    from memmgr.prompts import PROMPT_VERSION

    path = Path(folder) / CARD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"prompt_style": prompt_style, "prompt_version": PROMPT_VERSION, **extra}, indent=2,
                               default=str))
    return path


def read_manager_card(*folders: str | Path | None) -> dict[str, Any] | None:
    """The card of the first folder that has a readable one (adapter before base model), else None."""
    for folder in folders:
        if not folder:
            continue
        path = Path(folder) / CARD_FILE
        if not path.is_file():
            continue
        try:
            card = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable manager card %s: %s", path, e)
            continue
        if isinstance(card, dict) and card.get("prompt_style") in PROMPT_STYLES:
            from memmgr.prompts import PROMPT_VERSION

            if card.get("prompt_version") not in (None, PROMPT_VERSION):  # still usable: the layout differs a little
                log.warning("manager %s was trained on prompts %s; memmgr now renders %s: retrain it (make demo) "
                            "for the numbers the README reports", folder, card["prompt_version"], PROMPT_VERSION)
            return card
        log.warning("ignoring manager card %s: no valid prompt_style", path)
    return None


def trained_prompt_style(*folders: str | Path | None) -> str | None:
    card = read_manager_card(*folders)
    return card["prompt_style"] if card else None


def resolve_prompt_style(configured: str | None, trained: str | None, who: str = "manager") -> str:
    """The style a manager is prompted with: the configured one if any (warning when it contradicts the card),
    else the one it was trained with, else Mem0's teacher prompt (an untuned model or an API)."""
    if configured and trained and configured != trained:
        log.warning("%s was trained with the %s prompt but is configured to get the %s prompt", who, trained,
                    configured)
    return configured or trained or "teacher"
