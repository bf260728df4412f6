"""Command-line interface: thin wrappers that parse arguments and call the public API.

Each subcommand lives in its own module under archsim/cli/ and is listed in ``COMMANDS``.
Exit status: 0 success (an infeasible plan is a success: see ``feasible``), 2 bad input (one
line per problem on stderr, never a traceback), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from archsim.io import OutputError
from archsim.spec.errors import SpecError

# subcommand name -> module under archsim.cli (each defines add_parser(subparsers) and run(args))
COMMANDS: dict[str, str] = {
    "simulate": "archsim.cli.simulate",
    "list": "archsim.cli.listing",
    "graph": "archsim.cli.graph",
    "plan": "archsim.cli.plan",
    "sweep": "archsim.cli.sweep",
    "report": "archsim.cli.report",
    "capacity": "archsim.cli.capacity",
    "calibrate": "archsim.cli.calibrate",
    "validate": "archsim.cli.validate",
}


class UsageError(Exception):
    """Bad command-line usage; printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``archsim CMD: MESSAGE (see archsim CMD
    --help)``, exit 2 (the parser class of every subcommand too)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from archsim import __version__

    parser = _Parser(prog="archsim",
                     description="Simulate LLM training, inference and serving on hardware "
                                 "before you rent it.")
    parser.add_argument("--version", action="version", version=f"archsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def _command_parser(parser: argparse.ArgumentParser,
                    command: str | None) -> argparse.ArgumentParser:
    """The parser of subcommand ``command`` (``parser`` itself if there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # told by the command's own parser: its name and its --help
        _command_parser(parser, getattr(args, "command", None)).error(
            f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command])
    try:
        return int(module.run(args) or 0)
    except SpecError as exc:
        for problem in exc.problems:
            print(f"archsim {args.command}: {problem}", file=sys.stderr)
        return 2
    except (UsageError, OutputError) as exc:  # an output that cannot be written: bad input
        print(f"archsim {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # last line of defence: no traceback for users
        if os.environ.get("ARCHSIM_DEBUG"):
            raise
        print(f"archsim {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(set ARCHSIM_DEBUG=1 for the traceback; please report it)", file=sys.stderr)
        return 1


def run_main() -> None:
    sys.exit(main())
