"""``ironlbctl validate FILE...``: check configuration files offline, with the daemons' own parser.

Prints every error, one sentence per line, on standard output and exits 1; or prints a one-line summary and
exits 0. Warnings (deprecated input, references to peers that do not exist yet) go to standard error.

Errors about objects that merely do not exist *yet* (a BFDProfile, a Secret, a Community alias, a pool named by
an advertisement) are transient: MetalLB's webhooks let them through because the object may be created next.
``--allow-missing`` does the same here - they are printed as warnings and do not fail the check.
"""

from __future__ import annotations

import argparse
import sys

from ironlb.api import names
from ironlb.config import ConfigSources, parse
from ironlb.config.model import Config
from ironlb.ctl.command import Command
from ironlb.ctl.inputs import Inputs, read_inputs

DESCRIPTION = """\
Check configuration files offline, with the same parser the ironlb daemons use.

The files may hold metallb.io objects (IPAddressPool, L2Advertisement, BGPAdvertisement,
BGPPeer v1beta1/v1beta2, BFDProfile, Community), MetalLB's legacy ConfigMap (a ConfigMap with
data.config, or the bare configuration document), and the Namespaces and Secrets the
configuration refers to (namespaceSelectors, passwordSecret). Other objects are ignored.

Every error is printed on standard output, one sentence per line, and the exit status is 1.
A valid configuration prints a one-line summary and exits 0. Warnings go to standard error."""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="YAML files (several documents each; '-' reads standard input)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default=names.DEFAULT_NAMESPACE,
        help="the namespace MetalLB/ironlb runs in; objects elsewhere are rejected (default: %(default)s)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="report references to objects that do not exist yet (BFD profiles, Secrets, community aliases, "
        "pools) as warnings, as MetalLB's admission webhooks do",
    )


def run(args: argparse.Namespace) -> int:
    inputs = read_inputs(list(args.files), namespace=args.namespace)
    for problem in inputs.problems:
        print(problem)
    sources = ConfigSources(
        objects=inputs.objects,
        legacy_config=inputs.legacy_config,
        namespace_labels=inputs.namespace_labels,
        secrets=inputs.secrets,
        namespace=args.namespace,
        node_labels=inputs.node_labels or None,
        legacy_config_name=inputs.legacy_name,
    )
    result = parse(sources)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    failed = bool(inputs.problems)
    for error in result.errors:
        if error.transient and args.allow_missing:
            print(f"warning: {error.message}", file=sys.stderr)
            continue
        print(error.message)
        failed = True
    if failed:
        return 1
    if result.config is None:
        print(f"valid, apart from references to objects that do not exist yet ({_sources(inputs, args.files)})")
        return 0
    print(f"valid: {summary(result.config)} ({_sources(inputs, args.files)})")
    return 0


def summary(config: Config) -> str:
    """``2 pools, 1 L2Advertisement, 0 BGPAdvertisements, ...`` - what the configuration holds."""
    parts = [
        (len(config.pools), "pool"),
        (len(config.l2_advertisements), "L2Advertisement"),
        (len(config.bgp_advertisements), "BGPAdvertisement"),
        (len(config.peers), "BGPPeer"),
        (len(config.bfd_profiles), "BFDProfile"),
        (len(config.communities), "community alias"),
    ]
    return ", ".join(f"{count} {word}{_plural(count, word)}" for count, word in parts)


def _plural(count: int, word: str) -> str:
    if count == 1:
        return ""
    return "es" if word.endswith("s") else "s"


def _sources(inputs: Inputs, files: list[str]) -> str:
    text = f"{inputs.objects_read} object{'' if inputs.objects_read == 1 else 's'} in {len(files)} file"
    text += "" if len(files) == 1 else "s"
    if inputs.legacy_config is not None:
        text += ", including a legacy ConfigMap"
    if inputs.ignored:
        ignored = ", ".join(f"{count} {kind}" for kind, count in sorted(inputs.ignored.items()))
        text += f"; ignored {ignored}"
    return text


COMMAND = Command(
    name="validate",
    summary="check configuration files and print every error",
    description=DESCRIPTION,
    add_arguments=_add_arguments,
    run=run,
    epilog=(
        "examples:\n"
        "  ironlbctl validate pools.yaml advertisements.yaml\n"
        "  kubectl get -n metallb-system ipaddresspools,l2advertisements -o yaml | ironlbctl validate -\n"
        "  ironlbctl validate metallb-config-configmap.yaml   # the legacy (<= 0.12) ConfigMap"
    ),
)

__all__ = ["COMMAND", "run", "summary"]
