"""ironlb-speaker's command line: exactly the flags of SPEAKER-CLI, the contract with the DaemonSet and the lab.

Defaults come from the environment the DaemonSet sets (``METALLB_NODE_NAME``, ``METALLB_NAMESPACE``,
``METALLB_ML_BIND_ADDR``), MetalLB's names where MetalLB has the same setting. Every error is a sentence naming the
flag and what would be valid; ``--help`` reads as a manual page.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ironlb.api import names
from ironlb.api.selectors import LabelSelector
from ironlb.cli import flags
from ironlb.cli.flags import OptionsError

DEFAULT_STATUS_ADDRESS = "unix:///run/ironlb/speaker.sock"
DEFAULT_ML_LABELS = "app.kubernetes.io/name=ironlb,app.kubernetes.io/component=speaker"
DEFAULT_EXCLUDEL2 = "metallb-excludel2"

DESCRIPTION = """\
NAME
    ironlb-speaker - announce load-balancer addresses from this node (L2 ARP/NDP and BGP)

SYNOPSIS
    ironlb-speaker --node-name=NODE [--config-namespace=metallb-system] [--membership=true] ...

DESCRIPTION
    ironlb-speaker runs on every node (a DaemonSet with hostNetwork). It reads the Services of type
    LoadBalancer, their EndpointSlices, the Nodes and MetalLB's configuration (the metallb.io CRs and the
    legacy ConfigMap, unchanged) and decides, for every address in status.loadBalancer.ingress, whether
    this node announces it:

    layer 2
        one speaker per address answers ARP (IPv4) and Neighbor Solicitations (IPv6) for it and sends
        gratuitous ARP / unsolicited Neighbor Advertisements when it takes the address over. The owner is
        elected like MetalLB's (sha256 of node and address), among the speakers that are alive.
    BGP
        every selected node advertises the address to the BGPPeers that select it, with BFD where the
        peer has a bfdProfile (a BFD down drops the session at once).

    Liveness comes from membership: the speakers probe each other over authenticated UDP (--ml-bind-port)
    and agree on who is alive within about 400 ms, without the API server. With --membership=false it
    comes from the Nodes' Ready condition (slow: tens of seconds).

    The speaker never writes Services. It reports through ServiceL2Status and ServiceBGPStatus objects,
    the ConfigurationState speaker-<node>, Events (nodeAssigned, AddressConflict, ConfigurationInvalid),
    /metrics, and the gRPC status service read by 'ironlbctl status'."""

EPILOG = """\
SIGNALS
    SIGTERM or SIGINT hand over: the speaker leaves the membership (the next owners take its addresses
    over at once), keeps answering ARP/NDP for a grace period so that no request goes unanswered, drains
    its BGP sessions (GRACEFUL_SHUTDOWN for --bgp-graceful-shutdown, or graceful restart for peers that
    have it), then exits 0. An unreachable API server never makes it withdraw anything.

ENVIRONMENT
    METALLB_NODE_NAME, NODE_NAME           default for --node-name
    METALLB_NAMESPACE, POD_NAMESPACE       default for --config-namespace
    METALLB_ML_BIND_ADDR                   default for --ml-bind-addr
    POD_NAME                               this pod (owner of the status objects it writes)

EXIT STATUS
    0 after a clean stop, 1 when start-up fails, 2 on bad flags.

EXAMPLES
    ironlb-speaker --node-name=worker-1 --ml-bind-addr=192.0.2.11
    ironlb-speaker --node-name=worker-1 --membership=false --l2-probe=false
    ironlbctl status --address unix:///run/ironlb/speaker.sock

SEE ALSO
    ironlb-ccm(1), ironlbctl(1), https://metallb.universe.tf/configuration/"""


@dataclass(frozen=True)
class Options:
    node_name: str
    config_namespace: str
    kubeconfig: str | None
    master: str | None
    load_balancer_class: str | None
    legacy_configmap: str
    excluded_interfaces_configmap: str
    ignore_exclude_lb: bool
    bind_address: str
    port: int
    status_address: str
    membership: bool
    ml_bind_addr: str | None
    ml_bind_port: int
    ml_secret_name: str
    ml_labels: str
    ml_detection_scale: float
    l2_probe: bool
    gratuitous_refresh: float
    bgp_graceful_shutdown: float
    log_level: str
    log_format: str
    pod_name: str = ""


def build_parser(env: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    env = os.environ if env is None else env
    node = env.get("METALLB_NODE_NAME") or env.get("NODE_NAME") or None
    p = flags.manual_page_parser("ironlb-speaker", DESCRIPTION, EPILOG)
    g = p.add_argument_group("Cluster")
    g.add_argument("--node-name", default=node, help="this node's name (env METALLB_NODE_NAME, then NODE_NAME)")
    flags.add_config_namespace_flag(g, env, holds="the metallb.io CRs, the membership Secret and the legacy ConfigMap")
    flags.add_api_server_flags(g)
    flags.add_load_balancer_class_flag(g, verb="announce")
    flags.add_legacy_configmap_flag(g)
    g.add_argument(
        "--excluded-interfaces-configmap",
        default=DEFAULT_EXCLUDEL2,
        help="MetalLB's ConfigMap of interfaces never used for L2 (key excludel2.yaml, "
        f"announcedInterfacesToExclude); optional ({DEFAULT_EXCLUDEL2})",
    )
    g.add_argument(
        "--ignore-exclude-lb",
        action="store_true",
        help=f"announce even from nodes labelled {names.LABEL_EXCLUDE_FROM_LB}",
    )

    s = p.add_argument_group("Serving")
    flags.add_serving_flags(s, port_flag="--port", port=9120)
    s.add_argument(
        "--status-address",
        default=DEFAULT_STATUS_ADDRESS,
        help=f"gRPC status service for 'ironlbctl status': unix:///PATH or HOST:PORT ({DEFAULT_STATUS_ADDRESS})",
    )

    m = p.add_argument_group("Membership")
    m.add_argument(
        "--membership",
        type=flags.parse_bool,
        default=True,
        help="fast membership (true); false: liveness from Node Ready",
    )
    m.add_argument(
        "--ml-bind-addr",
        default=env.get("METALLB_ML_BIND_ADDR") or None,
        help="membership address, the pod IP (env METALLB_ML_BIND_ADDR; default: the Node's InternalIP)",
    )
    m.add_argument("--ml-bind-port", type=int, default=7946, help="membership UDP port (7946)")
    m.add_argument(
        "--ml-secret-name", default="memberlist", help="Secret holding the membership key, key secretkey (memberlist)"
    )
    m.add_argument(
        "--ml-labels",
        default=DEFAULT_ML_LABELS,
        help=f"label selector of the speaker pods in the config namespace, for membership seeds ({DEFAULT_ML_LABELS})",
    )
    m.add_argument(
        "--ml-detection-scale",
        type=float,
        default=1.0,
        help="multiply the membership timers (1.0 = about 400 ms to detect a dead speaker)",
    )

    a = p.add_argument_group("Announcing")
    a.add_argument(
        "--l2-probe", type=flags.parse_bool, default=True, help="probe an address before first announcing it (true)"
    )
    a.add_argument(
        "--gratuitous-refresh", default="0", help="re-send gratuitous ARP/NA this often while owning; 0 = off (0)"
    )
    a.add_argument(
        "--bgp-graceful-shutdown",
        default="2s",
        help="keep routes with GRACEFUL_SHUTDOWN this long before withdrawing them on stop (2s)",
    )

    lg = p.add_argument_group("Logging")
    flags.add_logging_flags(lg)
    return p


def parse_options(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> Options:
    """Parse and check flags; raises :class:`OptionsError` (argparse exits by itself on syntax errors)."""
    env = os.environ if env is None else env
    ns = build_parser(env).parse_args(argv)
    if not ns.node_name:
        raise OptionsError("--node-name is missing; pass this node's name, or set METALLB_NODE_NAME from spec.nodeName")
    flags.check_port("--port", ns.port, zero_disables=True)
    flags.check_port("--ml-bind-port", ns.ml_bind_port)
    if ns.ml_bind_port == 0 and ns.membership:
        raise OptionsError("--ml-bind-port 0 cannot be used: the other speakers must know the port; use 1-65535")
    if ns.ml_bind_addr:
        try:
            ipaddress.ip_address(ns.ml_bind_addr)
        except ValueError:
            raise OptionsError(
                f"--ml-bind-addr {ns.ml_bind_addr!r} is not an IP address; pass the pod IP (status.podIP)"
            ) from None
    if not (math.isfinite(ns.ml_detection_scale) and 0.25 <= ns.ml_detection_scale <= 100):
        raise OptionsError(
            f"--ml-detection-scale {ns.ml_detection_scale} is out of range; use 0.25 to 100 (1.0 = about 400 ms)"
        )
    try:
        LabelSelector.parse(ns.ml_labels)
    except ValueError as exc:
        raise OptionsError(f"--ml-labels {ns.ml_labels!r} is not a label selector ({exc})") from None
    log_level = flags.check_log_level(ns.log_level)
    status = ns.status_address.strip()
    if status and not status.startswith("unix://") and ":" not in status:
        raise OptionsError(
            f"--status-address {status!r} is neither unix:///PATH nor HOST:PORT; "
            f"use for example {DEFAULT_STATUS_ADDRESS} or 127.0.0.1:9121"
        )
    return Options(
        node_name=ns.node_name,
        config_namespace=ns.config_namespace,
        kubeconfig=ns.kubeconfig,
        master=ns.master,
        load_balancer_class=ns.load_balancer_class or None,
        legacy_configmap=ns.legacy_configmap,
        excluded_interfaces_configmap=ns.excluded_interfaces_configmap,
        ignore_exclude_lb=ns.ignore_exclude_lb,
        bind_address=ns.bind_address,
        port=ns.port,
        status_address=status,
        membership=ns.membership,
        ml_bind_addr=ns.ml_bind_addr or None,
        ml_bind_port=ns.ml_bind_port,
        ml_secret_name=ns.ml_secret_name,
        ml_labels=ns.ml_labels,
        ml_detection_scale=ns.ml_detection_scale,
        l2_probe=ns.l2_probe,
        gratuitous_refresh=flags.seconds("--gratuitous-refresh", ns.gratuitous_refresh),
        bgp_graceful_shutdown=flags.seconds("--bgp-graceful-shutdown", ns.bgp_graceful_shutdown),
        log_level=log_level,
        log_format=ns.log_format,
        pod_name=env.get("POD_NAME", ""),
    )


__all__ = ["DEFAULT_ML_LABELS", "DEFAULT_STATUS_ADDRESS", "Options", "OptionsError", "build_parser", "parse_options"]
