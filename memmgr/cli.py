"""`memmgr` command line: add / search / list / relations / history / update / delete / export / import / undo /
reset / check / reindex / ingest, shell / batch to run many of them in one process, serve (memmgr.serve: `vllm serve`).

The store lives in --store (default $MEMMGR_STORE or ./.memmgr_store); the pipeline and manager come from
--config (a MemoryConfig YAML, or mem0's config shape; default: SmolLM2-135M via transformers on CPU, MiniLM
embeddings). Verbs that read or write more than one memory need --user/--agent/--run, or --all-scopes. --graph both
(or graph) turns on Mem0g graph memory: `add` also writes relations, `relations` lists or searches them.
`memmgr shell` (stdin) and `memmgr batch FILE` read one verb per line, with the command line's syntax, and print
each result as one JSON line: the store is opened and the manager model loaded once for all of them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from collections import Counter
from datetime import datetime
from typing import Any

from memmgr.backends.base import BackendError
from memmgr.config import MemoryConfig
from memmgr.qa_metrics import percentile


def _memory(args: argparse.Namespace, **kwargs: Any) -> Any:
    """A Memory on --store with --config / --embedder (kwargs: Memory's, e.g. a manager or embedder to reuse)."""
    from memmgr.memory import Memory

    cfg = MemoryConfig.load(args.config)
    cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"path": args.store})})
    if args.embedder:
        cfg.embedder = cfg.embedder.model_copy(update={"provider": args.embedder})
    if args.graph:
        cfg.graph = cfg.graph.model_copy(update={"mode": args.graph})
    return Memory(cfg, **kwargs)


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


class Session:
    """What the verbs of one invocation share: the store's Memory, opened at the first verb that needs it, whose
    manager is loaded at the first verb that calls it (`Memory.manager` is lazy), and how results are printed:
    pretty JSON or text lines for one verb, one JSON line per result in a shell/batch session."""

    def __init__(self, args: argparse.Namespace, *, json_lines: bool = False):
        self.args, self.json_lines = args, json_lines
        self._mem: Any = None
        self._kwargs: dict[str, Any] = {}
        self._models: dict[str, Any] = {}  # the manager (once loaded) and embedder, kept across reopenings

    def memory(self, **kwargs: Any) -> Any:
        """The shared Memory. `check` and `reindex` open the store their own way (kwargs): the open one is closed
        and its manager and embedder reused, and the next plain verb reopens it as usual (with the same models)."""
        if self._mem is None or kwargs or self._kwargs:
            self.close()
            self._mem = _memory(self.args, **self._models, **kwargs)
            self._kwargs = kwargs
        return self._mem

    def emit(self, result: Any, lines: list[str] | None = None) -> None:
        if self.json_lines:
            print(json.dumps(result, ensure_ascii=False, default=str), flush=True)
        elif lines is not None:
            for line in lines:
                print(line)
        else:
            _print(result)

    def close(self) -> None:
        mem, self._mem, self._kwargs = self._mem, None, {}
        if mem is not None:
            loaded = {"manager": mem._manager, "embedder": mem.embedder}  # Memory loads its manager lazily
            self._models.update({k: v for k, v in loaded.items() if v is not None})
            mem.close()


def _ids(args: argparse.Namespace) -> dict[str, Any]:
    return {"user_id": args.user, "agent_id": args.agent, "run_id": args.run}


def _scoped(args: argparse.Namespace) -> dict[str, Any]:
    return {**_ids(args), "all_scopes": args.all_scopes}


def _who(r: dict[str, Any]) -> str:
    return ",".join(f"{k.split('_')[0]}={r[k]}" for k in ("user_id", "agent_id", "run_id") if r.get(k))


def cmd_add(args: argparse.Namespace, session: Session) -> int:
    mem = session.memory()
    ts = datetime.fromisoformat(args.timestamp) if args.timestamp else None
    # the manager writes facts about named people ("Maya has a dog"): an id like "maya" is shown as a name, "Maya"
    msgs = [{"role": "user", "content": args.text, "name": args.name or (args.user or "").capitalize() or None}]
    if args.reply:
        msgs.append({"role": "assistant", "content": args.reply, "name": "assistant"})
    session.emit(mem.add(msgs, **_ids(args), timestamp=ts))
    return 0


def cmd_search(args: argparse.Namespace, session: Session) -> int:
    res = session.memory().search(args.query, **_scoped(args), limit=args.limit)["results"]
    session.emit(res, [f"{r['score']:.3f}  {_who(r)}  {r['session_date'] or '':<20} {r['memory']}  [{r['id']}]"
                       for r in res])
    return 0


def cmd_list(args: argparse.Namespace, session: Session) -> int:
    res = session.memory().get_all(**_scoped(args))["results"]
    session.emit(res, [f"{r['id']}  {_who(r)}  {r['session_date'] or '':<20} {r['memory']}  "
                       f"src={','.join(r['source_ids'])}" for r in res])
    return 0


def cmd_relations(args: argparse.Namespace, session: Session) -> int:
    from memmgr.types import Scope

    mem = session.memory()
    if mem.graph is None:
        raise ValueError("graph memory is off: add --graph both (or graph), or use a config with graph.mode")
    scope = Scope(**_ids(args))
    if scope.is_empty():
        raise ValueError("relations needs --user, --agent or --run")
    if args.query:
        res = mem.graph.search(args.query, scope, limit=args.limit, as_of=args.as_of,
                               include_invalid=args.include_invalid)
    else:
        res = mem.graph.get_all(scope, include_invalid=args.include_invalid, as_of=args.as_of)
    session.emit(res, [f"{r['source']} --{r['relationship']}--> {r['destination']}  "
                       f"{'' if r['valid'] else 'INVALID since ' + str(r['invalidated_at']) + '  '}"
                       f"from {r['valid_from']}  [{r['id']}]" for r in res])
    return 0


def cmd_history(args: argparse.Namespace, session: Session) -> int:
    session.emit(session.memory().history(args.memory_id, call_id=args.call, **_scoped(args)))
    return 0


def cmd_update(args: argparse.Namespace, session: Session) -> int:
    meta = json.loads(args.metadata) if args.metadata else None
    session.emit(session.memory().update(args.memory_id, args.text, meta, **_ids(args)))
    return 0


def cmd_delete(args: argparse.Namespace, session: Session) -> int:
    if bool(args.memory_id) == bool(args.all):
        raise ValueError("give a MEMORY_ID, or --all with --user/--agent/--run (or --all-scopes)")
    mem = session.memory()
    session.emit(mem.delete_all(**_scoped(args)) if args.all else mem.delete(args.memory_id, **_ids(args)))
    return 0


def cmd_reset(args: argparse.Namespace, session: Session) -> int:
    if not args.yes:
        raise ValueError(f"reset deletes every memory, history row and conversation state in {args.store}; "
                         "add --yes to do it")
    session.emit(session.memory().reset())
    return 0


def cmd_export(args: argparse.Namespace, session: Session) -> int:
    n = session.memory().export(args.file, **_scoped(args))
    session.emit({"exported": n, "file": args.file}, [f"exported {n} memories to {args.file}"])
    return 0


def cmd_import(args: argparse.Namespace, session: Session) -> int:
    session.emit(session.memory().import_(args.file, overwrite=args.overwrite))
    return 0


def cmd_undo(args: argparse.Namespace, session: Session) -> int:
    mem = session.memory()
    if args.memory:
        session.emit(mem.revert(memory_id=args.memory, **_ids(args)))
        return 0
    for call_id in args.call:  # check every call (known, in scope) before undoing any
        if not mem.history(call_id=call_id, **_ids(args)):
            raise ValueError(f"no memory operation was recorded under call_id {call_id!r}")
    session.emit([u for call_id in args.call for u in mem.revert(call_id=call_id, **_ids(args))])
    return 0


def cmd_check(args: argparse.Namespace, session: Session) -> int:
    # open the store as it is: repairing at open would hide what the check is meant to report
    session.emit(session.memory(repair_on_open=False).check_consistency(repair=not args.no_repair))
    return 0


def cmd_reindex(args: argparse.Namespace, session: Session) -> int:
    mem = session.memory(reindex=True)
    session.emit(mem.reindex_report or mem.reindex())
    return 0


def cmd_ingest(args: argparse.Namespace, session: Session) -> int:
    """Feed a conversation (LOCOMO JSON or dialogue JSONL) pair by pair, one scope per speaker."""
    from memmgr.conversations import load_conversations

    convs = load_conversations(args.conversation)
    if args.sample:
        convs = [c for c in convs if c.conversation_id in args.sample]
    if not convs:
        raise ValueError("no conversation selected")
    mem = session.memory()
    calls: list[Any] = []
    hook = calls.append
    mem.trace_hooks.append(hook)
    try:
        summary = _ingest(args, mem, convs, calls)
    finally:  # a session's Memory outlives this verb
        mem.trace_hooks.remove(hook)
    session.emit(summary)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(summary, f, indent=2)
    return 0


def _ingest(args: argparse.Namespace, mem: Any, convs: list[Any], calls: list[Any]) -> dict[str, Any]:
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
    return {
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


def _scope_flags(p: argparse.ArgumentParser, *, all_scopes: bool = True) -> None:
    p.add_argument("--user", help="user id")
    p.add_argument("--agent", help="agent id")
    p.add_argument("--run", help="run id")
    if all_scopes:
        p.add_argument("--all-scopes", action="store_true", help="act on every user's memories (no scope)")


class LineError(ValueError):
    """A session line the verb parser refused (argparse would print usage and exit)."""


class _LineHelp(Exception):
    """`--help` on a session line: the help is printed, the session goes on."""


class _LineParser(argparse.ArgumentParser):
    """The verbs' parser inside a shell/batch session: errors raise instead of ending the process."""

    def error(self, message: str) -> Any:
        raise LineError(message.replace("argument cmd: invalid choice:", "unknown verb"))

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if status:
            raise LineError((message or "").strip() or f"exit {status}")
        raise _LineHelp


def build_parser(*, session: bool = False) -> argparse.ArgumentParser:
    """The `memmgr` parser; `session=True`: the verbs alone, as a shell/batch line takes them."""
    if session:
        p: argparse.ArgumentParser = _LineParser(prog="memmgr", add_help=False)
    else:
        p = argparse.ArgumentParser(prog="memmgr", description=__doc__.splitlines()[0])
        p.add_argument("--config", help="MemoryConfig YAML (manager, embedder, pipeline, guards)")
        p.add_argument("--store", default=os.environ.get("MEMMGR_STORE", ".memmgr_store"), help="store folder")
        p.add_argument("--embedder", choices=["sentence-transformers", "hash"], help="override the embedder")
        p.add_argument("--graph", choices=["vector", "graph", "both"], help="override graph.mode (Mem0g memory)")
        p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    a = sub.add_parser("add", help="add a message (and optional reply) through the manager")
    a.add_argument("text")
    _scope_flags(a, all_scopes=False)
    a.add_argument("--name", help="speaker name shown to the manager (default: the user id, capitalised)")
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

    rl = sub.add_parser("relations", help="a scope's graph relations (Mem0g), or those matching QUERY")
    rl.add_argument("query", nargs="?")
    _scope_flags(rl, all_scopes=False)
    rl.add_argument("--as-of", help="the graph at this date (ISO): relations valid then")
    rl.add_argument("--include-invalid", action="store_true", help="also invalidated relations (the history)")
    rl.add_argument("--limit", type=int, default=20)
    rl.set_defaults(fn=cmd_relations)

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
    if session:
        return p

    sh = sub.add_parser("shell", help="read verbs from stdin, one a line (`add --user maya \"...\"`); one JSON line "
                                      "per result; the manager is loaded once; `exit` or EOF ends")
    sh.set_defaults(fn=cmd_session, file="-")
    b = sub.add_parser("batch", help="run the verbs of FILE (one a line, # comments) in one process, like shell")
    b.add_argument("file", help="a file of verb lines ('-' = stdin)")
    b.set_defaults(fn=cmd_session)
    sv = sub.add_parser("serve", add_help=False, help="print (--run: start) `vllm serve` for a trained adapter or "
                                                      "merged model + the manager config for it (serve --help)")
    sv.add_argument("serve_args", nargs=argparse.REMAINDER)
    sv.set_defaults(fn=lambda args, session: _serve(args.serve_args))
    return p


def _serve(argv: list[str]) -> int:  # memmgr.serve has its own parser: `memmgr serve X` == `python -m memmgr.serve X`
    from memmgr.serve import main as serve_main

    return serve_main(argv)


def _one_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def run_session(lines: Any, session: Session) -> int:
    """Run verb lines against one session; a bad line prints a one-line error (stderr, and a JSON line
    {"error", "line"} on stdout so that results stay one per line) and the next line runs. 0, or 2 if a line
    failed."""
    parser = build_parser(session=True)
    failed = 0
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line in ("exit", "quit"):
            break
        try:
            tokens = shlex.split(line)
            args = parser.parse_args(tokens, namespace=argparse.Namespace(**{
                k: getattr(session.args, k) for k in ("config", "store", "embedder", "verbose")}))
            args.fn(args, session)
        except _LineHelp:
            continue
        except (ValueError, OSError, BackendError) as e:  # LineError, ConfigError and Rejected are ValueErrors
            failed += 1
            print(f"error: line {n}: {_one_line(e)}", file=sys.stderr, flush=True)
            print(json.dumps({"error": _one_line(e), "line": n}, ensure_ascii=False), flush=True)
    return 2 if failed else 0


def _prompted(stream: Any) -> Any:
    """stdin lines, with a prompt on stderr when a person types them."""
    while True:
        print("memmgr> ", end="", file=sys.stderr, flush=True)
        line = stream.readline()
        if not line:
            print(file=sys.stderr)
            return
        yield line


def cmd_session(args: argparse.Namespace, session: Session) -> int:
    session.json_lines = True
    if args.file == "-":
        return run_session(_prompted(sys.stdin) if sys.stdin.isatty() else sys.stdin, session)
    with open(args.file, encoding="utf-8") as f:
        return run_session(f, session)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return _serve(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    session = Session(args)
    try:
        return args.fn(args, session)
    except (ValueError, OSError, BackendError) as e:  # ConfigError and Rejected are ValueErrors
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    finally:
        session.close()


if __name__ == "__main__":
    sys.exit(main())
