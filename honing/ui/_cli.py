"""``honing show | report | dashboard RUN_DIR``: looking at a stored run from the shell.

Registered by ``honing.cli`` through ``add_commands``; each handler takes the
parsed arguments and returns an exit code. Errors a user can fix (no run
there, a foreign file) print one line and exit 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..store import StoreError

if TYPE_CHECKING:
    from ..store import RunReader


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = subparsers.add_parser("show", help="print a stored run: best candidate, score trajectory, frontier")
    show.add_argument("run_dir", help="the run directory (or its honing.db)")
    show.add_argument("--full", action="store_true",
                      help="print the best candidate in full (default: cut at 2000 chars)")
    show.set_defaults(handler=show_command)

    report = subparsers.add_parser("report", help="write a self-contained HTML report of a stored run")
    report.add_argument("run_dir", help="the run directory (or its honing.db)")
    report.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default report.html)")
    report.set_defaults(handler=report_command)

    dash = subparsers.add_parser("dashboard", help="serve a live dashboard of a run (it may still be running)")
    dash.add_argument("run_dir", help="the run directory (or its honing.db)")
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dash.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    dash.add_argument("--allow-host", action="append", metavar="NAME",
                      help="a Host name to answer to besides localhost (repeatable); by default a dashboard on a "
                           "loopback address refuses other names, a guard against DNS rebinding")
    dash.set_defaults(handler=dashboard_command)


def _fail(message: str) -> int:
    print(f"honing: {message}", file=sys.stderr)
    return 2


def _reader(path: str) -> RunReader:
    from ..store import RunReader

    return RunReader(path)


def show_command(args: argparse.Namespace) -> int:
    try:
        reader = _reader(args.run_dir)
    except StoreError as exc:
        return _fail(str(exc))
    with reader:
        print(render_show(reader, full=getattr(args, "full", False)))
    return 0


SHOW_FRONT = 30  # front members listed by `honing show` (those leading the most keys first)


def render_show(reader: RunReader, full: bool = False) -> str:
    """The text ``honing show`` prints (a function so tests and notebooks can use it)."""
    lines: list[str] = []
    header = reader.header
    budget = reader.session_config("engine", "max_metric_calls")
    lines.append(f"run: {reader.run_dir}")
    if header is not None and header.objective:
        lines.append(f"objective: {header.objective}")
    proposals = [p for p in reader.proposals if p.kind != "seed_generation"]
    lines.append(f"sessions: {len(reader.sessions)}   metric calls: {reader.metric_calls}"
                 + (f" / {budget}" if budget else "")
                 + f"   candidates: {len(reader.candidates)} ({len(reader.pool)} accepted)"
                 + f"   proposals: {sum(p.accepted for p in proposals)}/{len(proposals)} accepted")
    if reader.pending:
        lines.append(f"unfinished evaluations: {len(reader.pending)} (running now, or cut short by a crash)")
    best = reader.best_id()
    lines.append("")
    if best is None:
        lines.append("best candidate: none yet")
    else:
        lines.append(f"best candidate: #{best}  mean validation score {_fmt(reader.val_mean(best))}")
        for name, text in reader.candidates[best].components.items():
            if not full and len(text) > 2000:
                text = text[:2000] + f"\n... ({len(text) - 2000} more characters; --full prints all)"
            lines.append(f"--- {name} ---")
            lines.append(text)
        lines.append("---")
    lines.append("")
    lines.append("score trajectory (metric calls -> best mean validation score):")
    trajectory = reader.trajectory()["best"]
    if not trajectory:
        lines.append("  (no candidate fully scored yet)")
    for point in trajectory:
        lines.append(f"  {point['calls']:>7}  {_fmt(point['score'])}  candidate #{point['id']}")
    lines.append("")
    try:
        front = reader.front()
        members = sorted(front.members())
        lines.append(f"Pareto front ({reader.frontier_type}): {len(members)} candidate(s)")
        leaders = getattr(front, "leaders", {}) or {}
        counts = {cid: sum(cid in ids for ids in leaders.values()) for cid in members}
        ranked = sorted(members, key=lambda c: (-counts[c], c))
        for cid in ranked[:SHOW_FRONT]:
            lines.append(f"  #{cid:<5} mean {_fmt(reader.val_mean(cid))}   leads on {counts[cid]} of {len(leaders)}")
        if len(ranked) > SHOW_FRONT:
            lines.append(f"  ... and {len(ranked) - SHOW_FRONT} more (honing report / dashboard list them)")
    except Exception as exc:
        lines.append(f"Pareto front: unavailable ({type(exc).__name__}: {exc})")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


REPORT_DETAILS = 60  # candidates whose full detail (text, evaluations, reflection) the report embeds
REPORT_EVALUATIONS = 100  # evaluations per candidate in the report
REPORT_VALUE_CHARS = 5_000  # per side-info / output / prompt value in the report


def build_report(run_dir: str, output: str | Path) -> Path:
    """Write the static HTML report; returns its path.

    The report stays a readable size on any run: the overview lists at most
    ``MAX_LISTED`` candidates and embeds the details of ``REPORT_DETAILS`` of
    them (the best, the front, the best-scoring pool members), each with its
    first ``REPORT_EVALUATIONS`` evaluations; the dashboard shows everything.
    """
    from ._html import render_page
    from ._pagedata import candidate_detail, overview

    with _reader(run_dir) as reader:
        data: dict[str, Any] = {"overview": overview(reader)}
        shown = [c["id"] for c in data["overview"]["candidates"]]
        first = [cid for cid in _report_order(data["overview"], shown)][:REPORT_DETAILS]
        data["details"] = {str(cid): candidate_detail(reader, cid, limit=REPORT_VALUE_CHARS,
                                                      max_evaluations=REPORT_EVALUATIONS) for cid in first}
        page = render_page(title=f"honing report - {reader.run_dir}", data=data)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _report_order(data: dict[str, Any], shown: list[int]) -> list[int]:
    """Best first, then the front, then the pool by score, then the rest as listed."""
    best = [data["best"]["id"]] if data["best"] else []
    by_id = {c["id"]: c for c in data["candidates"]}
    front = [c for c in data["frontier"]["members"] if c in by_id]
    pool = sorted((c for c in shown if by_id[c]["in_pool"]), key=lambda c: -(by_id[c]["score"] or -1e300))
    return list(dict.fromkeys(best + front + pool + shown))


def report_command(args: argparse.Namespace) -> int:
    try:
        out = build_report(args.run_dir, args.output)
    except StoreError as exc:
        return _fail(str(exc))
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")
    return 0


def dashboard_command(args: argparse.Namespace) -> int:
    from ._server import Dashboard

    try:
        allowed = None if not getattr(args, "allow_host", None) else \
            [*args.allow_host, "localhost", "127.0.0.1", "::1", args.host]
        dashboard = Dashboard(args.run_dir, host=args.host, port=args.port, allowed_hosts=allowed)
    except StoreError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc} (try --port 0 for a free port)")
    print(f"honing dashboard for {dashboard.reader.run_dir} at {dashboard.url} (Ctrl-C to stop)", flush=True)
    try:
        dashboard.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        dashboard.close()
    return 0
