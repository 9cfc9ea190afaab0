"""Chat-template checks for training: keep marked templates, patch ChatML, fail clearly otherwise."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")


@pytest.fixture()
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_marked_template_is_kept(tok):
    from train.models import check_chat_template

    assert check_chat_template(tok, need_generation_markers=True) is None


def test_chatml_without_markers_is_patched(tok):
    from trl.chat_template_utils import has_generation_markers

    from train.models import check_chat_template

    tok.chat_template = tok.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    assert check_chat_template(tok, need_generation_markers=False) is None  # completion-only loss needs none
    patched = check_chat_template(tok, need_generation_markers=True)
    assert patched and has_generation_markers(patched)
    tok.chat_template = patched
    out = tok.apply_chat_template([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}],
                                  return_assistant_tokens_mask=True, return_dict=True)
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tok.decode(masked).endswith("<|im_end|>")  # the end-of-turn token is trained too


def test_unknown_template_without_markers_fails(tok):
    from train.models import ChatTemplateError, check_chat_template

    tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ChatTemplateError, match="generation"):
        check_chat_template(tok, need_generation_markers=True)
    tok.chat_template = None
    assert check_chat_template(tok, need_generation_markers=False)  # ChatML vocabulary: gets our template


def test_resolve_model_path_passes_hub_ids_and_folders(tiny_model_dir):
    from train.models import resolve_model_path

    assert resolve_model_path("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert resolve_model_path(tiny_model_dir) == tiny_model_dir
    with pytest.raises(FileNotFoundError):
        resolve_model_path("/nonexistent/model.gguf")
