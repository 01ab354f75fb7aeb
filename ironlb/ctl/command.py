"""The shape of an ``ironlbctl`` subcommand, so that adding one is adding one module.

A module in ``ironlb.ctl`` that defines ``COMMAND = Command(...)`` is found by ``ironlb.ctl.main`` at start-up
(``pkgutil`` over the package) and becomes ``ironlbctl <name>``; nothing else needs to change.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Command:
    #: the subcommand word, e.g. "validate".
    name: str
    #: one line for ``ironlbctl --help``.
    summary: str
    #: the paragraph(s) for ``ironlbctl <name> --help``.
    description: str
    #: adds the subcommand's own arguments to its parser.
    add_arguments: Callable[[argparse.ArgumentParser], None]
    #: runs it; returns the exit status (0 success, 1 failure the user must fix).
    run: Callable[[argparse.Namespace], int]
    #: optional text shown after the arguments in ``--help`` (examples).
    epilog: str = ""


__all__ = ["Command"]
