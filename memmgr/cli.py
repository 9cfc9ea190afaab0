"""`memmgr` command line: add / search / list / history / export / import / undo / check / ingest.

The store lives in --store (default $MEMMGR_STORE or ./.memmgr_store); the pipeline and manager come from
--config (a MemoryConfig YAML; default: SmolLM2-135M via transformers on CPU, MiniLM embeddings).
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

from memmgr.config import MemoryConfig
from memmgr.qa_metrics import percentile


def _memory(args: argparse.Namespace) -> Any:
    from memmgr.memory import Memory

    cfg = MemoryConfig.load(args.config)
    cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"path": args.store})})
    if args.embedder:
        cfg.embedder = cfg.embedder.model_copy(update={"provider": args.embedder})
    return Memory(cfg)


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def cmd_add(args: argparse.Namespace) -> int:
    mem = _memory(args)
    ts = datetime.fromisoformat(args.timestamp) if args.timestamp else None
    msgs = [{"role": "user", "content": args.text, "name": args.name or args.user}]
    if args.reply:
        msgs.append({"role": "assistant", "content": args.reply, "name": "assistant"})
    _print(mem.add(msgs, user_id=args.user, timestamp=ts))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    res = _memory(args).search(args.query, user_id=args.user, limit=args.limit)["results"]
    for r in res:
        print(f"{r['score']:.3f}  {r['session_date'] or '':<20} {r['memory']}  [{r['id']}]")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for r in _memory(args).get_all(user_id=args.user)["results"]:
        print(f"{r['id']}  {r['session_date'] or '':<20} {r['memory']}  src={','.join(r['source_ids'])}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    _print(_memory(args).history(args.memory_id, call_id=args.call))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    n = _memory(args).export(args.file, user_id=args.user)
    print(f"exported {n} memories to {args.file}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    _print(_memory(args).import_(args.file, overwrite=args.overwrite))
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    _print(_memory(args).revert(call_id=args.call, memory_id=args.memory))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    _print(_memory(args).check_consistency(repair=not args.no_repair))
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="memmgr", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="MemoryConfig YAML (manager, embedder, pipeline, guards)")
    p.add_argument("--store", default=os.environ.get("MEMMGR_STORE", ".memmgr_store"), help="store folder")
    p.add_argument("--embedder", choices=["sentence-transformers", "hash"], help="override the embedder")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    a = sub.add_parser("add", help="add a message (and optional reply) through the manager")
    a.add_argument("text")
    a.add_argument("--user", required=True)
    a.add_argument("--name", help="speaker name shown to the manager (default: the user id)")
    a.add_argument("--reply", help="the other side of the pair")
    a.add_argument("--timestamp", help="ISO date-time of the message (never defaults to now)")
    a.set_defaults(fn=cmd_add)

    s = sub.add_parser("search", help="similarity search in one user's memories")
    s.add_argument("query")
    s.add_argument("--user", required=True)
    s.add_argument("--limit", type=int, default=10)
    s.set_defaults(fn=cmd_search)

    ls = sub.add_parser("list", help="list a user's memories with provenance")
    ls.add_argument("--user")
    ls.set_defaults(fn=cmd_list)

    h = sub.add_parser("history", help="history of one memory (or of one manager call with --call)")
    h.add_argument("memory_id", nargs="?")
    h.add_argument("--call")
    h.set_defaults(fn=cmd_history)

    e = sub.add_parser("export", help="export memories + history as portable JSONL")
    e.add_argument("file")
    e.add_argument("--user")
    e.set_defaults(fn=cmd_export)

    i = sub.add_parser("import", help="import an export file")
    i.add_argument("file")
    i.add_argument("--overwrite", action="store_true")
    i.set_defaults(fn=cmd_import)

    u = sub.add_parser("undo", help="revert one manager call (--call) or the last op on a memory (--memory)")
    g = u.add_mutually_exclusive_group(required=True)
    g.add_argument("--call")
    g.add_argument("--memory")
    u.set_defaults(fn=cmd_undo)

    c = sub.add_parser("check", help="check (and repair) vector index vs SQLite agreement")
    c.add_argument("--no-repair", action="store_true")
    c.set_defaults(fn=cmd_check)

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
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
