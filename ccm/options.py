"""ironlb-ccm's command line: the flags a cloud-controller-manager user expects (k8s.io/cloud-provider/app).

Flag names, defaults and the ``--controllers`` grammar follow upstream (reference/peers-and-cloud-provider.md 1.7)
so that a CCM Deployment manifest written for another provider needs only ``--cloud-provider=ironlb``. One default
differs on purpose: ``--concurrent-service-syncs`` is 4, not 1. Upstream serializes Services because a cloud's
EnsureLoadBalancer blocks; ironlb's allocation is in memory and serialized on the event loop anyway, so the extra
workers only overlap the status writes (10,000 Services allocate in about half the time). Flags that
only make sense for clouds with routes are accepted and reported as doing nothing, rather than rejected, so such
manifests still start. Every error is a sentence naming the flag and what would be valid.
"""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from dataclasses import dataclass

from ironlb.api import names
from ironlb.cli import flags
from ironlb.cli.flags import OptionsError

#: canonical controller name -> accepted aliases
CONTROLLERS = {
    "service-lb-controller": ("service", "service-controller"),
    "cloud-node-controller": ("cloud-node",),
    "cloud-node-lifecycle-controller": ("cloud-node-lifecycle",),
}
UNSUPPORTED_CONTROLLERS = {"node-route-controller": ("route", "route-controller")}

DESCRIPTION = """\
NAME
    ironlb-ccm - cloud-controller-manager for bare-metal load balancers

SYNOPSIS
    ironlb-ccm --cloud-provider=ironlb [--kubeconfig=PATH] [--controllers=*] [--leader-elect=true] ...

DESCRIPTION
    ironlb-ccm runs the cloud-provider controllers a bare-metal cluster lacks:

    service-lb-controller (alias: service)
        gives every Service of type LoadBalancer (without a loadBalancerClass, or of the class named by
        --load-balancer-class) an address from the IPAddressPools in the configuration namespace, writes it
        to status.loadBalancer.ingress, and holds the finalizer service.kubernetes.io/load-balancer-cleanup
        until the address is released. The ironlb-speaker DaemonSet makes the address reachable.
    cloud-node-controller (alias: cloud-node)
        initializes Nodes registered by kubelets running with --cloud-provider=external: sets
        spec.providerID to ironlb://<node>, the addresses from the alpha.kubernetes.io/provided-node-ip
        annotation, and removes the node.cloudprovider.kubernetes.io/uninitialized taint.
    cloud-node-lifecycle-controller (alias: cloud-node-lifecycle)
        taints shut-down machines and deletes Nodes whose machine a person marked as removed
        (annotation ironlb.io/machine-removed: "true"); a NotReady node alone is never deleted.

    Configuration is MetalLB's, unchanged: the metallb.io CRs (IPAddressPool, L2Advertisement,
    BGPAdvertisement, BGPPeer, BFDProfile, Community) and the legacy ConfigMap, in --config-namespace."""

EPILOG = """\
CONTROLLERS
    --controllers takes a comma-separated list: '*' enables every controller, 'name' enables one, '-name'
    disables one ('*,-cloud-node' runs all but the node controller). Route controllers are not provided:
    bare-metal load balancers need no cloud routes.

LEADER ELECTION
    With --leader-elect (the default) replicas campaign for a coordination.k8s.io Lease; only the holder
    writes. A replica that loses the Lease stops writing at once and exits with status 1.

ENVIRONMENT
    METALLB_NAMESPACE, POD_NAMESPACE   default for --config-namespace
    POD_NAME, HOSTNAME                 part of the leader-election identity

EXIT STATUS
    0 on a clean shutdown (SIGTERM/SIGINT), 1 when leadership is lost or start-up fails, 2 on bad flags.

EXAMPLES
    ironlb-ccm --cloud-provider=ironlb --kubeconfig=/etc/kubernetes/ccm.conf
    ironlb-ccm --cloud-provider=ironlb --controllers=service --load-balancer-class=ironlb.io/lb

SEE ALSO
    ironlb-speaker(1), ironlbctl(1), https://metallb.universe.tf/configuration/"""


@dataclass(frozen=True)
class Options:
    cloud_provider: str
    cloud_config: str | None
    kubeconfig: str | None
    master: str | None
    controllers: frozenset[str]
    cluster_name: str
    concurrent_service_syncs: int
    concurrent_node_syncs: int
    node_monitor_period: float
    node_status_update_frequency: float
    leader_elect: bool
    leader_elect_lease_duration: float
    leader_elect_renew_deadline: float
    leader_elect_retry_period: float
    leader_elect_resource_name: str
    leader_elect_resource_namespace: str
    load_balancer_class: str | None
    config_namespace: str
    legacy_configmap: str
    bind_address: str
    secure_port: int
    log_level: str
    log_format: str
    identity: str
    notes: tuple[str, ...] = ()


def parse_controllers(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """Upstream's --controllers grammar -> (enabled canonical names, notes for the log)."""
    alias = {a: name for name, aliases in CONTROLLERS.items() for a in (name, *aliases)}
    unsupported = {a: name for name, aliases in UNSUPPORTED_CONTROLLERS.items() for a in (name, *aliases)}
    enabled: set[str] = set()
    disabled: set[str] = set()
    notes: list[str] = []
    star = False
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        if item == "*":
            star = True
            continue
        negate = item.startswith("-")
        name = item[1:] if negate else item
        if name in unsupported:
            if not negate:
                notes.append(f"--controllers: {name} is not provided by ironlb (bare metal needs no cloud routes)")
            continue
        if name not in alias:
            valid = ", ".join(sorted({*alias, "*"}))
            raise OptionsError(f"--controllers: {name!r} is not a controller; use one of {valid}, or -name")
        (disabled if negate else enabled).add(alias[name])
    if star:
        enabled |= set(CONTROLLERS) - disabled
    return frozenset(enabled - disabled), tuple(notes)


def _duration(flag: str, text: str) -> float:
    return flags.seconds(flag, text, hint="a positive duration such as 15s")


def build_parser() -> argparse.ArgumentParser:
    p = flags.manual_page_parser("ironlb-ccm", DESCRIPTION, EPILOG)
    g = p.add_argument_group("Generic flags")
    g.add_argument("--cloud-provider", default="", help="the cloud provider; must be 'ironlb'")
    g.add_argument("--cloud-config", default=None, help="accepted for compatibility; ironlb needs no cloud config")
    flags.add_api_server_flags(g)
    g.add_argument("--controllers", default="*", help="controllers to run (see CONTROLLERS); default '*'")
    g.add_argument("--cluster-name", default="kubernetes", help="the cluster's name (default kubernetes)")
    g.add_argument(
        "--concurrent-service-syncs",
        type=int,
        default=4,
        help="Services synced in parallel (4; upstream's default is 1). Allocation itself is always serialized "
        "and in queue order; more workers only overlap the API writes",
    )
    g.add_argument("--concurrent-node-syncs", type=int, default=1, help="Nodes initialized in parallel (1)")
    g.add_argument("--node-monitor-period", default="5s", help="node lifecycle check interval (5s)")
    g.add_argument("--node-status-update-frequency", default="5m", help="node address refresh interval (5m)")
    g.add_argument(
        "--configure-cloud-routes", type=flags.parse_bool, default=False, help="accepted; ironlb has no routes"
    )
    g.add_argument(
        "--allow-untagged-cloud", type=flags.parse_bool, default=True, help="accepted; ironlb needs no cluster tag"
    )
    g.add_argument(
        "--use-service-account-credentials", type=flags.parse_bool, default=False, help="accepted; no effect"
    )

    le = p.add_argument_group("Leader election")
    le.add_argument(
        "--leader-elect", type=flags.parse_bool, default=True, help="campaign for a Lease before writing (true)"
    )
    le.add_argument("--leader-elect-lease-duration", default="15s", help="how long a Lease holds (15s)")
    le.add_argument("--leader-elect-renew-deadline", default="10s", help="renew within this or stop (10s)")
    le.add_argument("--leader-elect-retry-period", default="2s", help="interval between attempts (2s)")
    le.add_argument("--leader-elect-resource-lock", default="leases", help="only 'leases' is supported")
    le.add_argument("--leader-elect-resource-name", default="ironlb-ccm", help="the Lease's name (ironlb-ccm)")
    le.add_argument("--leader-elect-resource-namespace", default=None, help="the Lease's namespace (config ns)")

    lb = p.add_argument_group("Load balancers")
    flags.add_load_balancer_class_flag(lb, verb="serve")
    flags.add_config_namespace_flag(lb, os.environ, holds="the metallb.io CRs")
    flags.add_legacy_configmap_flag(lb)

    flags.add_serving_flags(
        p.add_argument_group("Serving (/healthz, /readyz, /metrics)"), port_flag="--secure-port", port=10258
    )

    lg = p.add_argument_group("Logging")
    flags.add_logging_flags(lg)
    lg.add_argument("-v", "--v", dest="verbosity", type=int, default=None, help="klog verbosity; >= 4 means debug")
    return p


def parse_options(argv: list[str] | None = None) -> Options:
    """Parse and check flags; raises :class:`OptionsError` (argparse exits by itself on syntax errors)."""
    ns = build_parser().parse_args(argv)
    if ns.cloud_provider != names.PROVIDER_NAME:
        given = repr(ns.cloud_provider) if ns.cloud_provider else "missing"
        raise OptionsError(f"--cloud-provider is {given}; this binary provides only --cloud-provider=ironlb")
    if ns.leader_elect_resource_lock != "leases":
        raise OptionsError(
            f"--leader-elect-resource-lock {ns.leader_elect_resource_lock!r} is not supported; use leases"
        )
    for flag, value in (
        ("--concurrent-service-syncs", ns.concurrent_service_syncs),
        ("--concurrent-node-syncs", ns.concurrent_node_syncs),
    ):
        if value < 1:
            raise OptionsError(f"{flag} is {value}; it must be at least 1")
    flags.check_port("--secure-port", ns.secure_port, zero_disables=True)
    controllers, notes = parse_controllers(ns.controllers)
    lease = _duration("--leader-elect-lease-duration", ns.leader_elect_lease_duration)
    renew = _duration("--leader-elect-renew-deadline", ns.leader_elect_renew_deadline)
    retry = _duration("--leader-elect-retry-period", ns.leader_elect_retry_period)
    if ns.leader_elect and not lease > renew > retry > 0:
        raise OptionsError(
            "leader election needs --leader-elect-lease-duration > --leader-elect-renew-deadline > "
            f"--leader-elect-retry-period > 0; got {lease:g}s, {renew:g}s, {retry:g}s"
        )
    level = ns.log_level
    if ns.verbosity is not None and ns.verbosity >= 4:
        level = "debug"
    note_list = list(notes)
    if ns.configure_cloud_routes:
        note_list.append("--configure-cloud-routes=true has no effect: ironlb provides no cloud routes")
    if ns.cloud_config:
        note_list.append("--cloud-config is ignored: ironlb reads its configuration from metallb.io CRs")
    pod = os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()
    return Options(
        cloud_provider=ns.cloud_provider,
        cloud_config=ns.cloud_config,
        kubeconfig=ns.kubeconfig,
        master=ns.master,
        controllers=controllers,
        cluster_name=ns.cluster_name,
        concurrent_service_syncs=ns.concurrent_service_syncs,
        concurrent_node_syncs=ns.concurrent_node_syncs,
        node_monitor_period=_duration("--node-monitor-period", ns.node_monitor_period),
        node_status_update_frequency=_duration("--node-status-update-frequency", ns.node_status_update_frequency),
        leader_elect=ns.leader_elect,
        leader_elect_lease_duration=lease,
        leader_elect_renew_deadline=renew,
        leader_elect_retry_period=retry,
        leader_elect_resource_name=ns.leader_elect_resource_name,
        leader_elect_resource_namespace=ns.leader_elect_resource_namespace or ns.config_namespace,
        load_balancer_class=ns.load_balancer_class or None,
        config_namespace=ns.config_namespace,
        legacy_configmap=ns.legacy_configmap,
        bind_address=ns.bind_address,
        secure_port=ns.secure_port,
        log_level=level,
        log_format=ns.log_format,
        identity=f"{pod}_{uuid.uuid4()}",
        notes=tuple(note_list),
    )


__all__ = ["CONTROLLERS", "Options", "OptionsError", "build_parser", "parse_controllers", "parse_options"]
