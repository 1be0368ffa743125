"""The ``honing`` command: a thin dispatcher; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import logging
import sys


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(budget=args.budget, reflection_lm=args.reflection_lm, timeout_s=args.timeout,
                    run_dir=args.run_dir)


def _serve_lm(args: argparse.Namespace) -> int:
    from .llm._server import run_serve_lm

    return run_serve_lm(args) or 0


def _store_command(name: str):
    def handler(args: argparse.Namespace) -> int:
        from .ui import _cli

        return getattr(_cli, name)(args)

    return handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="honing", description="Optimize any text artifact with LLM reflection.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run an offline optimization on the embedded local model")
    demo.add_argument("--budget", type=int, default=12, help="evaluator calls (default 12)")
    demo.add_argument("--reflection-lm", default=None, help="model name (default: the embedded local model)")
    demo.add_argument("--timeout", type=float, default=240.0,
                      help="seconds after which no new proposal starts (default 240)")
    demo.add_argument("--run-dir", default=None, help="where the run store is written")
    demo.set_defaults(handler=_demo)

    serve = sub.add_parser("serve-lm", help="serve the embedded models as an OpenAI-compatible endpoint")
    try:
        from .llm._server import add_serve_lm_arguments

        add_serve_lm_arguments(serve)
    except ImportError:  # pragma: no cover - the server module ships with honing
        pass
    serve.set_defaults(handler=_serve_lm)

    try:
        from .ui import _cli as store_cli
    except ImportError:
        store_cli = None
    if store_cli is not None:
        store_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
