"""``ironlbctl`` entry point: find the subcommands, parse the command line, run one.

Subcommands are discovered, not listed: every module of this package that defines ``COMMAND`` (a
:class:`~ironlb.ctl.command.Command`) is one, in name order. A new subcommand is therefore one new module.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import ironlb.ctl
from ironlb.ctl.command import Command

PROGRAM = "ironlbctl"
DESCRIPTION = (
    "Work with ironlb's (and MetalLB's) configuration: the metallb.io objects (IPAddressPool, L2Advertisement, "
    "BGPAdvertisement, BGPPeer, BFDProfile, Community) and MetalLB's legacy ConfigMap."
)
_NOT_COMMANDS = frozenset({"main", "command"})


def discover() -> list[Command]:
    """Every ``COMMAND`` defined by a module of :mod:`ironlb.ctl`, sorted by name."""
    found: dict[str, Command] = {}
    for info in pkgutil.iter_modules(ironlb.ctl.__path__):
        if info.name in _NOT_COMMANDS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{ironlb.ctl.__name__}.{info.name}")
        command = getattr(module, "COMMAND", None)
        if isinstance(command, Command):
            found[command.name] = command
    return [found[name] for name in sorted(found)]


def build_parser(commands: list[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description=DESCRIPTION, epilog=f"Run '{PROGRAM} COMMAND --help' for the options of a command."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in commands:
        child = sub.add_parser(
            command.name,
            help=command.summary,
            description=command.description,
            epilog=command.epilog or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(child)
        child.set_defaults(_command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``ironlbctl`` with ``argv`` (default: the process arguments); returns the exit status."""
    parser = build_parser(discover())
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    command: Command | None = getattr(args, "_command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return 2
    return command.run(args)


if __name__ == "__main__":  # pragma: no cover - `python -m ironlb.ctl.main`
    sys.exit(main())
