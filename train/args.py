"""YAML config + CLI overrides onto a tuple of dataclasses (ours + TRL's), with unknown keys an error.

Like TRL's `TrlParser`, one flat YAML fills several dataclasses (each key goes to every dataclass that has a field of
that name). The grammar is the project's one (`memmgr.settings`): `--config FILE` then `--key value` / `--key=value`,
values parsed as YAML (`--lora_r 16`, `--report_to '[wandb]'`, `--bf16 false`). Unlike argparse defaults, a typo in
the YAML fails loudly; `--help` lists every key with its default and help text.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from memmgr.settings import ConfigError, load_yaml, parse_overrides, split_config_arg, wants_help

__all__ = ["ConfigError", "parse_config", "parse_cli", "help_text"]


def field_names(types: Sequence[type]) -> set[str]:
    return {f.name for t in types for f in dataclasses.fields(t) if f.init}


def check_keys(values: dict[str, Any], types: Sequence[type], where: str) -> None:
    known = field_names(types)
    unknown = [k for k in values if k not in known]
    if unknown:
        hints = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
        msg = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
        raise ConfigError(f"{where}: unknown keys {msg}")


def build(types: Sequence[type], values: dict[str, Any]) -> tuple[Any, ...]:
    """Instantiate each dataclass with the keys it owns (runs their __post_init__ checks)."""
    out = []
    for t in types:
        names = {f.name for f in dataclasses.fields(t) if f.init}
        kwargs = {k: v for k, v in values.items() if k in names}
        try:
            out.append(t(**kwargs))
        except (TypeError, ValueError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"{t.__name__}: {e}") from e
    return tuple(out)


def parse_config(types: Sequence[type], config: str | None, argv: Sequence[str] = (),
                 prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> tuple[Any, ...]:
    """Merge YAML `config` and CLI `argv` overrides (unknown keys fail), let `prepare` adjust the merged values
    (e.g. CPU defaults), and build one instance per dataclass type."""
    values = load_yaml(config)
    check_keys(values, types, str(config))
    overrides = parse_overrides(argv)
    check_keys(overrides, types, "command line")
    values.update(overrides)
    return build(types, prepare(values) if prepare else values)


def help_text(types: Sequence[type], doc: str | None) -> str:
    lines = [(doc or "").strip(), "", "usage: --config FILE.yaml [--key value ...]  (YAML values; unknown keys fail)"]
    seen: set[str] = set()
    for t in types:
        lines += ["", f"{t.__name__}:"]
        for f in dataclasses.fields(t):
            if not f.init or f.name in seen:
                continue
            seen.add(f.name)
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else "required")
            hint = f.metadata.get("help", "")
            hint = " ".join(str(hint).split())[:100]
            lines.append(f"  --{f.name} (default {default!r})" + (f"  {hint}" if hint else ""))
    return "\n".join(lines)


def parse_cli(types_fn: Callable[[], Sequence[type]], doc: str | None, argv: Sequence[str] | None = None,
              prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> tuple[Any, ...]:
    """A train script's command line: `--help` prints every key and exits; a bad config or key exits with a
    one-line `error: ...`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if wants_help(argv):
        print(help_text(types_fn(), doc))
        raise SystemExit(0)
    config, rest = split_config_arg(argv)
    try:
        return parse_config(types_fn(), config, rest, prepare=prepare)
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
