"""YAML config + CLI overrides onto a tuple of dataclasses (ours + TRL's), with unknown keys an error.

Like TRL's `TrlParser`, one flat YAML fills several dataclasses (each key goes to every dataclass that has a field of
that name). CLI overrides are `--key value` or `--key=value`; values are parsed as YAML (`--lora_r 16`,
`--report_to '[wandb]'`, `--bf16 false`). Unlike argparse defaults, a typo in the YAML fails loudly.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    pass


def field_names(types: Sequence[type]) -> set[str]:
    return {f.name for t in types for f in dataclasses.fields(t) if f.init}


def parse_overrides(argv: Sequence[str]) -> dict[str, Any]:
    """['--a', '1', '--b=x', '--flag'] -> {'a': 1, 'b': 'x', 'flag': True}."""
    out: dict[str, Any] = {}
    i = 0
    argv = list(argv)
    while i < len(argv):
        tok = argv[i]
        if not tok.startswith("--"):
            raise ConfigError(f"unexpected argument {tok!r}; overrides look like --key value")
        key, eq, val = tok[2:].partition("=")
        if not eq:
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                val = argv[i + 1]
                i += 1
            else:
                val = "true"
        out[key.replace("-", "_")] = _scalar(val)
        i += 1
    return out


def _scalar(val: str) -> Any:
    """YAML-parse a CLI value, except that YAML 1.1's yes/no/on/off stay strings (`--eval_strategy no`)."""
    if val == "":
        return ""
    parsed = yaml.safe_load(val)
    if isinstance(parsed, bool) and val.strip().lower() not in ("true", "false"):
        return val
    if isinstance(parsed, str):  # PyYAML reads "1e-5" (no dot) as a string
        try:
            return float(parsed)
        except ValueError:
            return parsed
    return parsed


def load_yaml(path: str | Path | None) -> dict[str, Any]:
    if not path:
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys to values")
    return data


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
        except TypeError as e:
            raise ConfigError(f"{t.__name__}: {e}") from e
    return tuple(out)


def parse_config(types: Sequence[type], config: str | Path | None, argv: Sequence[str] = (),
                 prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> tuple[Any, ...]:
    """Merge YAML `config` and CLI `argv` overrides (unknown keys fail), let `prepare` adjust the merged values
    (e.g. CPU defaults), and build one instance per dataclass type."""
    values = load_yaml(config)
    check_keys(values, types, str(config))
    overrides = parse_overrides(argv)
    check_keys(overrides, types, "command line")
    values.update(overrides)
    return build(types, prepare(values) if prepare else values)


def split_config_arg(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Pull `--config PATH` out of argv; the rest are overrides."""
    argv = list(argv)
    for i, tok in enumerate(argv):
        if tok == "--config" and i + 1 < len(argv):
            return argv[i + 1], argv[:i] + argv[i + 2:]
        if tok.startswith("--config="):
            return tok.split("=", 1)[1], argv[:i] + argv[i + 1:]
    return None, argv
