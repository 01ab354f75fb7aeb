"""``ironlbctl convert FILE``: MetalLB's legacy ConfigMap -> the equivalent metallb.io objects, as YAML.

The YAML goes to standard output (or ``--output``); errors and warnings go to standard error, so the output can
be piped straight into ``kubectl apply -f -``. The conversion is checked before anything is printed: the objects
must parse to the same configuration as the ConfigMap (see ``ironlb.config.convert``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ironlb.api import names
from ironlb.config import legacy_to_objects, render_objects
from ironlb.ctl.command import Command
from ironlb.ctl.inputs import read_inputs

DESCRIPTION = """\
Convert MetalLB's legacy ConfigMap (MetalLB <= 0.12) into the equivalent metallb.io objects:
an IPAddressPool per address pool, an L2Advertisement per layer2 pool, BGPAdvertisements for
bgp pools, a BGPPeer (v1beta2) per peer, BFDProfiles, and a Community object for the
bgp-communities aliases. Names are kept, so Services that request a pool by name keep working.

FILE holds the ConfigMap (kind: ConfigMap with data.config) or just its configuration document.
The result is checked to mean exactly what the ConfigMap means before it is printed."""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the ConfigMap YAML ('-' reads standard input)")
    parser.add_argument(
        "-n",
        "--namespace",
        default=None,
        help=f"namespace for the objects (default: the ConfigMap's namespace, else {names.DEFAULT_NAMESPACE})",
    )
    parser.add_argument("-o", "--output", metavar="PATH", help="write the YAML to PATH instead of standard output")


def run(args: argparse.Namespace) -> int:
    inputs = read_inputs([args.file], namespace=args.namespace or names.DEFAULT_NAMESPACE)
    for problem in inputs.problems:
        print(problem, file=sys.stderr)
    if inputs.problems:
        return 1
    if inputs.legacy_config is None:
        print(
            f"{args.file}: holds no legacy MetalLB configuration; expected a ConfigMap with data.config, or a "
            "document with address-pools and peers.",
            file=sys.stderr,
        )
        return 1
    namespace = args.namespace or inputs.legacy_namespace or names.DEFAULT_NAMESPACE
    result = legacy_to_objects(inputs.legacy_config, namespace=namespace, configmap=inputs.legacy_name)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in result.errors:
        print(error.message, file=sys.stderr)
    if not result.ok:
        return 1
    text = render_objects(result.objects)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


COMMAND = Command(
    name="convert",
    summary="turn a legacy MetalLB ConfigMap into metallb.io objects (YAML on standard output)",
    description=DESCRIPTION,
    add_arguments=_add_arguments,
    run=run,
    epilog=(
        "examples:\n"
        "  ironlbctl convert metallb-config.yaml > metallb-crs.yaml\n"
        "  kubectl get -n metallb-system configmap config -o yaml | ironlbctl convert - | kubectl apply -f -"
    ),
)

__all__ = ["COMMAND", "run"]
