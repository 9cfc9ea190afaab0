"""A tiny random chat model built locally (no hub): TRL's tiny-model recipe, for fast CPU tests.

`build_tiny_model(out_dir)` trains a ByteLevel BPE tokenizer on a few KB of generated text that looks like what the
tests feed it (ChatML turns, memmgr prompts, JSON answers), wraps it in a `PreTrainedTokenizerFast` with a ChatML
template that carries `{% generation %}` markers (so assistant-only loss works), and saves a 2-layer Llama with
hidden size 64 and head_dim 32 (vLLM on CPU needs head_dim >= 32). Building takes about a second.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

EOS, PAD, BOS = "<|im_end|>", "<|pad|>", "<|im_start|>"

# ChatML with generation markers around the assistant content and its end token (TRL checks this for
# assistant_only_loss): the same template train/models.py patches into ChatML models.
from train.models import CHATML_TRAINING_TEMPLATE as CHAT_TEMPLATE  # noqa: E402


def _corpus(n: int = 300, seed: int = 0) -> list[str]:
    """A few KB of text in the shapes the tests use, so the BPE vocabulary covers JSON and prompt headers."""
    from memmgr.prompts import (
        EXTRACTION_SYSTEM_STUDENT,
        EXTRACTION_SYSTEM_TEACHER,
        UPDATE_SYSTEM_STUDENT,
        UPDATE_SYSTEM_TEACHER,
    )

    rng = random.Random(seed)
    names = ["Sam", "Lee", "Ana", "Kai", "Mia", "Joe", "Caroline", "Melanie"]
    things = ["a beagle called Pixel", "two cats", "the cello", "a red bike", "pottery", "York", "Leeds", "a job"]
    verbs = ["has", "likes", "moved to", "started", "sold", "adopted", "lives in", "plays"]
    events = ["ADD", "UPDATE", "DELETE", "NOOP"]
    out = [EXTRACTION_SYSTEM_TEACHER, UPDATE_SYSTEM_TEACHER, EXTRACTION_SYSTEM_STUDENT, UPDATE_SYSTEM_STUDENT]
    for i in range(n):
        fact = f"{rng.choice(names)} {rng.choice(verbs)} {rng.choice(things)}"
        op = {"id": str(rng.randint(0, 9)), "text": fact, "event": rng.choice(events)}
        out.append(f"{BOS}user\n[D{i}:{i % 7}] {rng.choice(names)}: I {rng.choice(verbs)} {rng.choice(things)}.{EOS}")
        out.append(json.dumps({"facts": [fact]}) + " " + json.dumps({"memory": [op]}))
        out.append(f"Today's date: {rng.randint(1, 28)} May 2023\n### Existing memories\n{i % 10}: {fact}\n"
                   f"### New facts\n- {fact}\n### Summary\n(none)\n### Recent messages\n### New messages")
    return out


def build_tiny_model(out_dir: str | Path, *, seed: int = 0, vocab_size: int = 1024) -> str:
    """Build and save the tiny tokenizer + LlamaForCausalLM into `out_dir`; returns the folder path."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(seed=seed), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, bos_token=None)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32, max_position_embeddings=2048, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    model = LlamaForCausalLM(cfg)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    return str(out)


if __name__ == "__main__":
    import sys

    print(build_tiny_model(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tiny"))
