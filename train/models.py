"""Model and tokenizer loading for training: hub id, local folder or GGUF (converted once), chat-template checks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from memmgr.backends.hf import convert_gguf_to_hf, resolve_model_ref

log = logging.getLogger(__name__)

# ChatML with generation markers (the assistant turn's end token inside them): used to patch ChatML models whose
# template lacks the markers (SmolLM2, Qwen2.5) when assistant-only loss is asked for on `messages` data.
CHATML_TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ChatTemplateError(ValueError):
    pass


def resolve_model_path(model: str) -> str:
    """Hub id or folder unchanged; a GGUF file (or a shortcut such as `smollm2`) becomes its converted folder."""
    model = resolve_model_ref(model)
    if model.endswith(".gguf"):
        if not Path(model).is_file():
            raise FileNotFoundError(model)
        return convert_gguf_to_hf(model)
    return model


def check_chat_template(tokenizer: Any, *, need_generation_markers: bool) -> str | None:
    """Make sure the tokenizer can render our chat data; returns a replacement template or None.

    - no template at all: ChatML tokenizers (they have <|im_start|>/<|im_end|>) get ours; others fail clearly;
    - assistant-only loss on `messages` data needs `{% generation %}` markers: TRL's known templates are patched by
      TRL; a ChatML template is patched here; anything else fails with a message saying what to do.
    """
    from trl.chat_template_utils import has_generation_markers

    template = tokenizer.chat_template
    vocab = tokenizer.get_vocab()
    is_chatml = "<|im_start|>" in vocab and "<|im_end|>" in vocab
    if not template:
        if is_chatml:
            log.warning("tokenizer has no chat template; using ChatML (its vocabulary has <|im_start|>/<|im_end|>)")
            return CHATML_TRAINING_TEMPLATE
        raise ChatTemplateError("the tokenizer has no chat template and is not ChatML; set chat_template_path to a "
                                ".jinja template (with {% generation %} markers for assistant_only_loss)")
    if not need_generation_markers or has_generation_markers(template):
        return None
    try:
        from trl.chat_template_utils import get_training_chat_template

        patched = get_training_chat_template(tokenizer)
        if patched is not None:
            return patched
    except Exception as e:  # TRL raises for templates it does not know; we may still know ChatML
        log.debug("TRL cannot patch this template: %s", e)
    if is_chatml and "<|im_start|>" in template:
        log.info("patched a ChatML chat template with {%% generation %%} markers for assistant-only loss")
        return CHATML_TRAINING_TEMPLATE
    raise ChatTemplateError(
        "assistant_only_loss needs a chat template with {% generation %}...{% endgeneration %} around the assistant "
        "turn (end-of-turn token included). This template has none and is not a known one. Either train on the "
        "prompt/completion columns (completion-only loss, the default here) or pass chat_template_path.")


def load_tokenizer(model_path: str, *, need_generation_markers: bool = False, chat_template_path: str | None = None):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    if chat_template_path:
        tok.chat_template = Path(chat_template_path).read_text()
    patched = check_chat_template(tok, need_generation_markers=need_generation_markers)
    if patched:
        tok.chat_template = patched
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        # A pad equal to eos would mask the end-of-turn token out of the loss in some collators; prefer a real pad.
        for cand in ("<|pad|>", "<|endoftext|>", "<pad>", "<unk>"):
            if cand in tok.get_vocab() and cand != tok.eos_token:
                tok.pad_token = cand
                break
        else:
            tok.pad_token = tok.eos_token
    return tok


def lora_config(model_args: Any) -> Any:
    """PEFT LoRA config from TRL's ModelConfig (None when use_peft is false)."""
    from trl import get_peft_config

    cfg = get_peft_config(model_args)
    if cfg is not None and not model_args.lora_target_modules:
        cfg.target_modules = "all-linear"
    return cfg


def model_init_kwargs(model_args: Any, *, use_cpu: bool) -> dict[str, Any]:
    """from_pretrained kwargs: dtype (fp32 on CPU: bf16 matmul is ~150x slower there), attention, QLoRA."""
    kwargs: dict[str, Any] = {"dtype": "float32" if use_cpu else (model_args.dtype or "auto")}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    if model_args.load_in_4bit or model_args.load_in_8bit:
        if use_cpu:
            raise ValueError("QLoRA (load_in_4bit/8bit) needs a CUDA GPU and bitsandbytes")
        from trl import get_kbit_device_map, get_quantization_config

        kwargs["quantization_config"] = get_quantization_config(model_args)
        kwargs["device_map"] = get_kbit_device_map()
    return kwargs


def trainable_lora_state(model: Any) -> dict[str, Any]:
    """A detached copy of the LoRA weights (tests compare before/after training)."""
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}


def peak_rss_gib() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def trained_tokens(log_history: list[dict[str, Any]]) -> float:
    """Tokens trained on (prompt + completion, padding excluded), as TRL counts them in its logs."""
    return max([float(h.get("num_tokens", 0)) for h in log_history] + [0.0])


def train_and_save(trainer: Any, tokenizer: Any, output_dir: str, resume: Any, card: dict[str, Any]
                   ) -> tuple[Any, float]:
    """trainer.train, then save the adapter, the tokenizer and the manager card (memmgr.manager_card: the prompt
    style travels with the adapter). Returns (train output, wall seconds)."""
    import time

    from memmgr.manager_card import write_manager_card

    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - t0
    trainer.save_model(output_dir)
    tokenizer.save_pretrained(output_dir)
    if trainer.is_world_process_zero():
        write_manager_card(output_dir, **card)
    return result, wall
