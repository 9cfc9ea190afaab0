"""`memmgr` command line: add / search / list / history / update / delete / export / import / undo / reset /
check / reindex / ingest.

The store lives in --store (default $MEMMGR_STORE or ./.memmgr_store); the pipeline and manager come from
--config (a MemoryConfig YAML, or mem0's config shape; default: SmolLM2-135M via transformers on CPU, MiniLM
embeddings). Verbs that read or write more than one memory need --user/--agent/--run, or --all-scopes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from datetime import datetime
from typing import Any

from memmgr.backends.base import BackendError
from memmgr.config import MemoryConfig
from memmgr.qa_metrics import percentile


def _memory(args: argparse.Namespace, **kwargs: Any) -> Any:
    from memmgr.memory import Memory

    cfg = MemoryConfig.load(args.config)
    cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"path": args.store})})
    if args.embedder:
        cfg.embedder = cfg.embedder.model_copy(update={"provider": args.embedder})
    return Memory(cfg, **kwargs)


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _ids(args: argparse.Namespace) -> dict[str, Any]:
    return {"user_id": args.user, "agent_id": args.agent, "run_id": args.run}


def _scoped(args: argparse.Namespace) -> dict[str, Any]:
    return {**_ids(args), "all_scopes": args.all_scopes}


def _who(r: dict[str, Any]) -> str:
    return ",".join(f"{k.split('_')[0]}={r[k]}" for k in ("user_id", "agent_id", "run_id") if r.get(k))


def cmd_add(args: argparse.Namespace) -> int:
    mem = _memory(args)
    ts = datetime.fromisoformat(args.timestamp) if args.timestamp else None
    msgs = [{"role": "user", "content": args.text, "name": args.name or args.user}]
    if args.reply:
        msgs.append({"role": "assistant", "content": args.reply, "name": "assistant"})
    _print(mem.add(msgs, **_ids(args), timestamp=ts))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    res = _memory(args).search(args.query, **_scoped(args), limit=args.limit)["results"]
    for r in res:
        print(f"{r['score']:.3f}  {_who(r)}  {r['session_date'] or '':<20} {r['memory']}  [{r['id']}]")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for r in _memory(args).get_all(**_scoped(args))["results"]:
        print(f"{r['id']}  {_who(r)}  {r['session_date'] or '':<20} {r['memory']}  src={','.join(r['source_ids'])}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    _print(_memory(args).history(args.memory_id, call_id=args.call, **_scoped(args)))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    meta = json.loads(args.metadata) if args.metadata else None
    _print(_memory(args).update(args.memory_id, args.text, meta, **_ids(args)))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    if bool(args.memory_id) == bool(args.all):
        raise ValueError("give a MEMORY_ID, or --all with --user/--agent/--run (or --all-scopes)")
    mem = _memory(args)
    _print(mem.delete_all(**_scoped(args)) if args.all else mem.delete(args.memory_id, **_ids(args)))
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    if not args.yes:
        raise ValueError(f"reset deletes every memory, history row and conversation state in {args.store}; "
                         "add --yes to do it")
    _print(_memory(args).reset())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    n = _memory(args).export(args.file, **_scoped(args))
    print(f"exported {n} memories to {args.file}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    _print(_memory(args).import_(args.file, overwrite=args.overwrite))
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    mem = _memory(args)
    if args.memory:
        _print(mem.revert(memory_id=args.memory, **_ids(args)))
        return 0
    for call_id in args.call:  # check every call (known, in scope) before undoing any
        if not mem.history(call_id=call_id, **_ids(args)):
            raise ValueError(f"no memory operation was recorded under call_id {call_id!r}")
    _print([u for call_id in args.call for u in mem.revert(call_id=call_id, **_ids(args))])
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    # open the store as it is: repairing at open would hide what the check is meant to report
    _print(_memory(args, repair_on_open=False).check_consistency(repair=not args.no_repair))
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    mem = _memory(args, reindex=True)
    _print(mem.reindex_report or mem.reindex())
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Feed a conversation (LOCOMO JSON or dialogue JSONL) pair by pair, one scope per speaker."""
    from memmgr.conversations import load_conversations

    convs = load_conversations(args.conversation)
    if args.sample:
        convs = [c for c in convs if c.conversation_id in args.sample]
    if not convs:
        print("no conversation selected", file=sys.stderr)
        return 2
    mem = _memory(args)
    calls: list[Any] = []
    mem.trace_hooks.append(calls.append)
    events: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    latencies: list[float] = []
    from tqdm import tqdm

    for conv in convs:
        pairs = conv.message_pairs(max_sessions=args.sessions)
        for msgs, ts in tqdm(pairs, desc=f"ingest {conv.conversation_id}", unit="pair"):
            for speaker in conv.speakers:
                t0 = time.perf_counter()
                res = mem.add(msgs, user_id=f"{conv.conversation_id}:{speaker}", timestamp=ts,
                              trace_context={"conversation_id": conv.conversation_id})
                latencies.append(time.perf_counter() - t0)
                events.update(r["event"] for r in res["results"])
                reasons.update(r["reason"] for r in res["rejected"])
    summary = {
        "conversations": len(convs), "adds": len(latencies), "manager_calls": len(calls),
        "ops_applied": dict(events), "rejections": dict(reasons),
        "memories_stored": sum(len(mem.get_all(user_id=f"{c.conversation_id}:{s}")["results"])
                               for c in convs for s in c.speakers),
        "add_latency_s": {"p50": percentile(latencies, 50) if latencies else 0.0,
                          "p95": percentile(latencies, 95) if latencies else 0.0},
        "manager_tokens": {"prompt": sum(c.prompt_tokens for c in calls),
                           "completion": sum(c.completion_tokens for c in calls)},
        "invalid_outputs": sum(1 for c in calls if not c.valid),
    }
    _print(summary)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(summary, f, indent=2)
    return 0


def _scope_flags(p: argparse.ArgumentParser, *, all_scopes: bool = True) -> None:
    p.add_argument("--user", help="user id")
    p.add_argument("--agent", help="agent id")
    p.add_argument("--run", help="run id")
    if all_scopes:
        p.add_argument("--all-scopes", action="store_true", help="act on every user's memories (no scope)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="memmgr", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="MemoryConfig YAML (manager, embedder, pipeline, guards)")
    p.add_argument("--store", default=os.environ.get("MEMMGR_STORE", ".memmgr_store"), help="store folder")
    p.add_argument("--embedder", choices=["sentence-transformers", "hash"], help="override the embedder")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    a = sub.add_parser("add", help="add a message (and optional reply) through the manager")
    a.add_argument("text")
    _scope_flags(a, all_scopes=False)
    a.add_argument("--name", help="speaker name shown to the manager (default: the user id)")
    a.add_argument("--reply", help="the other side of the pair")
    a.add_argument("--timestamp", help="ISO date-time of the message (never defaults to now)")
    a.set_defaults(fn=cmd_add)

    s = sub.add_parser("search", help="similarity search in one scope's memories")
    s.add_argument("query")
    _scope_flags(s)
    s.add_argument("--limit", type=int, default=10)
    s.set_defaults(fn=cmd_search)

    ls = sub.add_parser("list", help="list a scope's memories with their owner and provenance")
    _scope_flags(ls)
    ls.set_defaults(fn=cmd_list)

    h = sub.add_parser("history", help="history of one memory, of one manager call (--call), or of a scope")
    h.add_argument("memory_id", nargs="?")
    h.add_argument("--call")
    _scope_flags(h)
    h.set_defaults(fn=cmd_history)

    up = sub.add_parser("update", help="replace one memory's text (recorded in its history)")
    up.add_argument("memory_id")
    up.add_argument("text")
    up.add_argument("--metadata", help="JSON object that replaces the memory's metadata")
    _scope_flags(up, all_scopes=False)
    up.set_defaults(fn=cmd_update)

    d = sub.add_parser("delete", help="delete one memory, or --all of a scope's memories")
    d.add_argument("memory_id", nargs="?")
    d.add_argument("--all", action="store_true", help="every memory of --user/--agent/--run (or --all-scopes)")
    _scope_flags(d)
    d.set_defaults(fn=cmd_delete)

    rs = sub.add_parser("reset", help="delete everything in the store (needs --yes)")
    rs.add_argument("--yes", action="store_true")
    rs.set_defaults(fn=cmd_reset)

    e = sub.add_parser("export", help="export a scope's memories + history as portable JSONL")
    e.add_argument("file")
    _scope_flags(e)
    e.set_defaults(fn=cmd_export)

    i = sub.add_parser("import", help="import an export file")
    i.add_argument("file")
    i.add_argument("--overwrite", action="store_true")
    i.set_defaults(fn=cmd_import)

    u = sub.add_parser("undo", help="revert manager calls (--call, as printed by add) or the last op on a memory")
    g = u.add_mutually_exclusive_group(required=True)
    g.add_argument("--call", nargs="+")
    g.add_argument("--memory")
    _scope_flags(u, all_scopes=False)
    u.set_defaults(fn=cmd_undo)

    c = sub.add_parser("check", help="check (and repair) vector index vs SQLite agreement")
    c.add_argument("--no-repair", action="store_true")
    c.set_defaults(fn=cmd_check)

    ri = sub.add_parser("reindex", help="re-embed every memory with the configured embedder (after changing it)")
    ri.set_defaults(fn=cmd_reindex)

    ing = sub.add_parser("ingest", help="feed a whole conversation through the pipeline and summarise the ops")
    ing.add_argument("--conversation", required=True, help="LOCOMO JSON (locomo10.json) or dialogue JSONL")
    ing.add_argument("--sample", nargs="*", help="conversation ids to keep (e.g. conv-26)")
    ing.add_argument("--sessions", type=int, help="only the first N sessions")
    ing.add_argument("--report", help="also write the summary JSON here")
    ing.set_defaults(fn=cmd_ingest)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args)
    except (ValueError, OSError, BackendError) as e:  # ConfigError and Rejected are ValueErrors
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
