"""Merge a LoRA adapter into its base model and save a plain folder that transformers and vLLM load.

```bash
python train/merge.py --adapter runs/sft/smollm2 --out runs/merged/smollm2 [--base smollm2] [--dtype bfloat16]
```
The base defaults to the adapter's `base_model_name_or_path`; GGUF bases are converted first. The tokenizer (with
the chat template used in training) and the manager card (memmgr.manager_card: the prompt style) are copied from the adapter
folder when it has them.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("train.merge")


def merge_adapter(adapter: str, out_dir: str, base: str | None = None, dtype: str = "float32") -> str:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.models import resolve_model_path

    cfg_path = Path(adapter) / "adapter_config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{adapter}: no adapter_config.json (not a PEFT adapter folder)")
    base = base or json.loads(cfg_path.read_text())["base_model_name_or_path"]
    base_path = resolve_model_path(base)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=getattr(torch, dtype))
    model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok_src = adapter if (Path(adapter) / "tokenizer_config.json").exists() else base_path
    AutoTokenizer.from_pretrained(tok_src).save_pretrained(out)
    from memmgr.manager_card import CARD_FILE

    if (Path(adapter) / CARD_FILE).exists():  # the prompt style travels with the merged model too
        shutil.copy(Path(adapter) / CARD_FILE, out / CARD_FILE)
    (out / "merge_info.json").write_text(json.dumps({"base": base, "base_path": base_path, "adapter": adapter,
                                                     "dtype": dtype}, indent=2))
    log.info("merged %s into %s -> %s", adapter, base_path, out)
    return str(out)


def main(argv: Sequence[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description="merge a LoRA adapter into its base model")
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--base", default=None, help="default: the adapter's base_model_name_or_path")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = merge_adapter(args.adapter, args.out, args.base, args.dtype)
    print(out)
    return out


if __name__ == "__main__":
    main()
