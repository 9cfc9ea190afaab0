"""Crash-safe storage of a trace run: `ShardWriter` appends one JSONL shard per finished unit (atomic rename) and
records it in `manifest.json` together with the config fingerprint (`GenerateConfig.fingerprint`). A killed run
resumes with the units the manifest lacks, nothing duplicated or lost; a run with another fingerprint refuses the
directory unless `overwrite` is set, which deletes the old shards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from memmgr.prompts import PROMPT_VERSION

log = logging.getLogger("data_gen.shards")


class ShardWriter:
    """Append-only shards + a manifest of finished units: crash-safe resume without duplicates."""

    def __init__(self, out: Path, fingerprint: str = "", overwrite: bool = False):
        self.dir = out / "shards"
        self.manifest_path = out / "manifest.json"
        if self.manifest_path.exists():
            manifest = json.loads(self.manifest_path.read_text())
            if manifest.get("fingerprint") != fingerprint:
                if not overwrite:
                    raise ValueError(f"{out} holds shards of a run with another config (fingerprint "
                                     f"{manifest.get('fingerprint')} != {fingerprint}): pick a new output_dir or "
                                     "pass --overwrite true")
                log.warning("overwriting %s (config changed)", out)
                self.manifest_path.unlink()
                shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest = json.loads(self.manifest_path.read_text()) if self.manifest_path.exists() else {
            "units": {}, "prompt_version": PROMPT_VERSION, "fingerprint": fingerprint}

    def done(self, unit_id: str) -> bool:
        return unit_id in self.manifest["units"]

    def write(self, unit_id: str, examples: list[dict], usage: dict) -> None:
        name = f"{len(self.manifest['units']):06d}-{hashlib.md5(unit_id.encode()).hexdigest()[:8]}.jsonl"
        tmp = self.dir / (name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for ex in examples:
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
        os.replace(tmp, self.dir / name)  # the shard appears whole or not at all
        self.manifest["units"][unit_id] = {"shard": name, "examples": len(examples), **usage}
        tmp_m = self.manifest_path.with_suffix(".tmp")
        tmp_m.write_text(json.dumps(self.manifest, indent=1))
        os.replace(tmp_m, self.manifest_path)

    def examples(self) -> list[dict]:
        """Every example of every finished unit, in the order the units finished."""
        out = []
        for info in self.manifest["units"].values():
            with (self.dir / info["shard"]).open(encoding="utf-8") as f:
                out.extend(json.loads(line) for line in f if line.strip())
        return out
