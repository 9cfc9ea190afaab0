"""The one config grammar of every entry point: a YAML file plus `--dotted.key value` overrides.

Every command (`python -m data_gen.generate`, `train/sft.py`, `train/grpo.py`, `python -m eval.locomo`,
`python -m eval.manager`, `python -m eval.ablate`, `python -m experiments.distill`) reads `--config PATH` and then
overrides spelled `--key value` or `--key=value`, where `key` is the field's (dotted) path in the config
(`--source.max_sessions 2`, `--limit.sessions 1`, `--sft.max_steps 300`, `--learning_rate 1e-4`). Values are parsed
as YAML (`--methods '[mem0, rag]'`, `--bf16 false`); a flag with no value is `true`. Unknown keys fail with a
one-line error that names the closest known key.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """A config or an override that cannot be used; the message is one line meant for the user."""


class Strict(BaseModel):
    """Base of every config model: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


M = TypeVar("M", bound=BaseModel)


def parse_value(raw: str) -> Any:
    """YAML-parse a CLI value, except that YAML 1.1's yes/no/on/off stay strings (`--eval_strategy no`) and
    "1e-5" (which PyYAML reads as a string) is a float."""
    if raw == "":
        return ""
    try:
        parsed = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(parsed, bool) and raw.strip().lower() not in ("true", "false"):
        return raw
    if isinstance(parsed, str):
        try:
            return float(parsed)
        except ValueError:
            return parsed
    return parsed


def parse_overrides(argv: Sequence[str]) -> dict[str, Any]:
    """['--a.b', '1', '--c=x', '--flag'] -> {'a.b': 1, 'c': 'x', 'flag': True} (dashes in keys become '_')."""
    out: dict[str, Any] = {}
    argv = list(argv)
    i = 0
    while i < len(argv):
        tok = argv[i]
        if not tok.startswith("--") or tok == "--":
            raise ConfigError(f"unexpected argument {tok!r}; overrides look like --key value or --key=value")
        key, eq, val = tok[2:].partition("=")
        if not eq:
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                val = argv[i + 1]
                i += 1
            else:
                val = "true"
        out[key.replace("-", "_")] = parse_value(val)
        i += 1
    return out


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    """d["a"]["b"]["c"] = value for key "a.b.c", creating (or replacing non-mapping) nodes on the way."""
    parts = key.split(".")
    node = d
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = copy.deepcopy(value)


def apply_overrides(values: dict[str, Any], overrides: dict[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A deep copy of `values` with every dotted override set."""
    out = copy.deepcopy(values)
    for k, v in (overrides.items() if isinstance(overrides, dict) else overrides):
        set_dotted(out, k, v)
    return out


def load_yaml(path: str | Path | None) -> dict[str, Any]:
    """The mapping in a YAML file ({} for None); a missing file or a non-mapping is a ConfigError."""
    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config is a mapping of keys to values")
    return data


def validation_message(e: ValidationError, where: str, model: type[BaseModel] | None = None) -> str:
    """One line out of a pydantic error: the first problem, with a did-you-mean for unknown keys."""
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    if err["type"] == "extra_forbidden":
        hint = _closest(loc, model)
        return f"{where}: unknown key {loc!r}" + (f" (did you mean {hint!r}?)" if hint else "")
    more = f" (+{len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
    return f"{where}: {loc}: {err['msg']}{more}"


def _closest(loc: str, model: type[BaseModel] | None) -> str | None:
    if model is None:
        return None
    known = list(_dotted_fields(model))
    hit = difflib.get_close_matches(loc, known, n=1)
    return hit[0] if hit else None


def _dotted_fields(model: type[BaseModel], prefix: str = "") -> Iterable[str]:
    for name, f in model.model_fields.items():
        yield prefix + name
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _dotted_fields(ann, prefix + name + ".")


def build(model: type[M], values: dict[str, Any], where: str = "config") -> M:
    try:
        return model.model_validate(values)
    except ValidationError as e:
        raise ConfigError(validation_message(e, where, model)) from None


def load_config(model: type[M], path: str | Path | None = None, overrides: dict[str, Any] | Sequence[str] = (),
                base: dict[str, Any] | None = None) -> M:
    """`model` from `base` <- YAML `path` <- overrides (a dict of dotted keys, or argv tokens `--k v`)."""
    values = {**copy.deepcopy(base or {}), **load_yaml(path)}
    ov = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    return build(model, apply_overrides(values, ov), str(path) if path else "config")


def split_config_arg(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Pull `--config PATH` (or `--config=PATH`) out of argv; the rest are overrides."""
    argv = list(argv)
    for i, tok in enumerate(argv):
        if tok == "--config" and i + 1 < len(argv):
            return argv[i + 1], argv[:i] + argv[i + 2:]
        if tok.startswith("--config="):
            return tok.split("=", 1)[1], argv[:i] + argv[i + 1:]
    return None, argv


def wants_help(argv: Sequence[str]) -> bool:
    return any(a in ("-h", "--help") for a in argv)


def help_text(model: type[BaseModel], doc: str | None, prefix: str = "") -> str:
    """Usage + every (dotted) config key with its type and default, for `--help`."""
    lines = [(doc or model.__doc__ or "").strip(), "", "usage: --config FILE.yaml [--key value ...]", "", "keys:"]
    lines += _field_lines(model, prefix)
    return "\n".join(lines)


def _field_lines(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _field_lines(ann, f"{prefix}{name}.")
            continue
        default = "required" if f.is_required() else f"default {f.get_default(call_default_factory=True)!r}"
        typ = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
        out.append(f"  --{prefix}{name}  ({typ}; {default})")
    return out


def cli_config(model: type[M], argv: Sequence[str] | None, doc: str | None = None) -> M:
    """The config of a command line: `--config FILE` + `--key value` overrides; `--help` prints the keys and exits;
    any problem exits with a one-line `error: ...` (no traceback)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if wants_help(argv):
        print(help_text(model, doc))
        raise SystemExit(0)
    path, rest = split_config_arg(argv)
    try:
        return load_config(model, path, rest)
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
