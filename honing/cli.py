"""The ``honing`` command: a thin dispatcher; each subcommand lives in its own module.

Logging: honing's messages go to stderr at INFO by default; ``-q`` shows only
warnings (``-qq`` only errors), ``-v`` adds honing's DEBUG output (prompts,
replies, decisions) and ``-vv`` every library's DEBUG output. The flags work
before or after the subcommand (``honing -v run ...`` or ``honing run ... -v``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(budget=args.budget, reflection_lm=args.reflection_lm, timeout_s=args.timeout,
                    run_dir=args.run_dir, threads=args.threads)


def _serve_lm(args: argparse.Namespace) -> int:
    from .llm._server import run_serve_lm

    return run_serve_lm(args) or 0


def _run(args: argparse.Namespace) -> int:
    from ._cli_run import run_command

    return run_command(args)


def _verbosity_flags(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="more output: -v honing's DEBUG lines (prompts, replies, decisions), -vv every library's")
    parser.add_argument("-q", "--quiet", action="count", default=default,
                        help="less output: -q warnings and errors only, -qq errors only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="honing", description="Optimize any text artifact with LLM reflection.")
    parser.add_argument("--version", action="version", version=f"honing {__version__}")
    _verbosity_flags(parser, 0)
    sub = parser.add_subparsers(dest="command", required=True)

    from ._cli_run import add_run_arguments

    run = sub.add_parser("run", help="optimize a text file against an evaluator, from files",
                         description="Optimize a seed file against a module:function evaluator, configured by a "
                                     "TOML file. Running it again with the same --run-dir resumes the run.")
    add_run_arguments(run)
    run.set_defaults(handler=_run)

    demo = sub.add_parser("demo", help="run an offline optimization on the embedded local model")
    demo.add_argument("--budget", type=int, default=12, help="evaluator calls (default 12)")
    demo.add_argument("--reflection-lm", default=None, help="model name (default: the embedded local model)")
    demo.add_argument("--timeout", type=float, default=None,
                      help="seconds the search may take (default 150, doubled when the machine is busy)")
    demo.add_argument("--threads", type=int, default=None,
                      help="CPU threads for the embedded model (default: the cores other programs leave free)")
    demo.add_argument("--run-dir", default=None, help="where the run store is written")
    demo.set_defaults(handler=_demo)

    serve = sub.add_parser("serve-lm", help="serve the embedded models as an OpenAI-compatible endpoint")
    from .llm._server import add_serve_lm_arguments

    add_serve_lm_arguments(serve)
    serve.set_defaults(handler=_serve_lm)

    from .ui import _cli as store_cli

    store_cli.add_commands(sub)
    for command in sub.choices.values():  # the flags also work after the subcommand, adding to the count
        _verbosity_flags(command, argparse.SUPPRESS)
    return parser


def configure_logging(verbose: int, quiet: int) -> int:
    """Apply -v / -q: the ``honing`` logger's level, shown on stderr; returns the level."""
    from ._logging import set_verbosity

    level = min(logging.CRITICAL, max(logging.DEBUG, logging.INFO - 10 * verbose + 10 * quiet))
    set_verbosity(level)
    if verbose >= 2:  # every library's debug output too (LiteLLM, HTTP clients, Ray)
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    return level


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        logging.getLogger("honing").warning("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
