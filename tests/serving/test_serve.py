"""`memmgr serve` (memmgr/serve.py): the command and the client config for adapters, merged models and model ids."""

from __future__ import annotations

import json

import pytest

from memmgr import MemoryConfig, serve
from memmgr.manager_card import write_manager_card


def _plan(*argv):
    args = serve.parser().parse_args(list(argv))
    args.vllm_args = []
    return serve.plan(args)


@pytest.fixture
def adapter(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    ad = tmp_path / "adapter"
    ad.mkdir()
    (ad / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base), "r": 16}))
    write_manager_card(ad, prompt_style="student")
    return ad


def test_adapter_is_served_as_base_plus_lora_module(adapter):
    p = _plan(str(adapter), "--port", "8123", "--device", "cpu", "--python", "/venv/bin/python")
    a = p.argv
    assert a[:3] == ["/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    assert a[a.index("--model") + 1] == str(adapter.parent / "base")
    assert a[a.index("--lora-modules") + 1] == f"memmgr={adapter.resolve()}" and "--enable-lora" in a
    assert a[a.index("--max-lora-rank") + 1] == "16" and a[a.index("--port") + 1] == "8123"
    assert json.loads(a[a.index("--structured-outputs-config") + 1]) == {"backend": "guidance"}
    assert p.env["VLLM_CPU_KVCACHE_SPACE"] == "2" and a[a.index("--gpu-memory-utilization") + 1] == "0.1"
    cfg = MemoryConfig.load({"manager": p.manager_config()}).manager
    assert (cfg.backend, cfg.model, cfg.base_url, cfg.prompt_style) == ("openai", "memmgr",
                                                                         "http://127.0.0.1:8123/v1", "student")
    assert cfg.extra == {"guidance_json": True}


def test_merged_model_and_gpu_flags(tmp_path):
    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")
    write_manager_card(merged, prompt_style="student")
    p = _plan(str(merged), "--device", "gpu", "--tensor-parallel-size", "2", "--name", "student")
    a = p.argv
    assert a[a.index("--served-model-name") + 1] == "student" and "--enable-lora" not in a
    assert a[a.index("--tensor-parallel-size") + 1] == "2" and a[a.index("--gpu-memory-utilization") + 1] == "0.9"
    assert not p.env and p.prompt_style == "student" and "--enable-prefix-caching" in a


def test_main_prints_command_and_config_and_writes_yaml(adapter, tmp_path, capsys):
    out = tmp_path / "served.yaml"
    assert serve.main([str(adapter), "--device", "cpu", "--write-config", str(out), "--", "--max-num-seqs", "8"]) == 0
    text = capsys.readouterr().out
    assert "vllm.entrypoints.openai.api_server" in text and "--max-num-seqs 8" in text and "prompt_style: student" in text
    cfg = MemoryConfig.load(str(out))
    assert cfg.manager.model == "memmgr" and cfg.manager.prompt_style == "student"


def test_errors_are_one_line(tmp_path, capsys):
    assert serve.main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert serve.main([str(empty)]) == 2
    no_base = tmp_path / "nobase"
    no_base.mkdir()
    (no_base / "adapter_config.json").write_text("{}")
    assert serve.main([str(no_base)]) == 2 and "--base" in capsys.readouterr().err


def test_memmgr_serve_verb_prints_command_and_config(adapter, tmp_path, capsys):
    from memmgr.cli import main as cli_main

    assert cli_main(["serve", str(adapter), "--device", "cpu", "--port", "8123", "--python", "/venv/bin/python"]) == 0
    out = capsys.readouterr().out
    assert "/venv/bin/python -m vllm.entrypoints.openai.api_server" in out and "--enable-lora" in out
    assert "base_url: http://127.0.0.1:8123/v1" in out and "prompt_style: student" in out
    with pytest.raises(SystemExit) as e:
        cli_main(["serve", "--help"])
    assert e.value.code == 0 and "usage: memmgr serve" in capsys.readouterr().out
    assert cli_main(["serve", str(tmp_path / "nope")]) == 2 and "does not exist" in capsys.readouterr().err


def test_memmgr_serve_console_script(adapter):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("memmgr")
    cmd = [str(exe)] if exe.is_file() else [shutil.which("memmgr") or "memmgr"]
    out = subprocess.run([*cmd, "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage: memmgr serve" in out.stdout, out.stderr[-2000:]
    out = subprocess.run([*cmd, "serve", str(adapter), "--device", "gpu"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--gpu-memory-utilization 0.9" in out.stdout and "backend: openai" in out.stdout
