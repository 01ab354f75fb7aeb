"""``ironlbctl status``: what one speaker announces, and how its sessions and membership are.

Asks the speaker's gRPC status service (``ironlb.status.v1.Speaker/Status``, ironlb/rpc/status.proto) on its
``--status-address`` - by default the unix socket ``/run/ironlb/speaker.sock`` inside the speaker pod::

    kubectl exec -n metallb-system ds/ironlb-speaker -- ironlbctl status
    ironlbctl status --address unix:///run/ironlb/speaker.sock -o json

Text output is for people (one section per protocol); JSON output is the message as protobuf's JSON mapping
(field names in lowerCamelCase, every field present), stable for scripts.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Iterable

import grpc
from google.protobuf import json_format

from ironlb.ctl.command import Command
from ironlb.rpc import status_pb2 as pb
from ironlb.rpc import status_pb2_grpc as pb_grpc

DEFAULT_ADDRESS = "unix:///run/ironlb/speaker.sock"

DESCRIPTION = """\
Show what one ironlb-speaker announces and the state of its sessions: the layer 2 addresses it answers
ARP/NDP for (with the Services, interfaces and phase of each), the routes it advertises to each BGP peer,
its BGP and BFD sessions, the membership as it sees it, and its counters.

The speaker serves this on --status-address (default unix:///run/ironlb/speaker.sock), a unix socket
inside its pod: run the command there with kubectl exec, or point --address at the socket."""

EPILOG = """\
examples:
  kubectl exec -n metallb-system ds/ironlb-speaker -- ironlbctl status
  ironlbctl status --address unix:///run/ironlb/speaker.sock -o json
  ironlbctl status --address 127.0.0.1:9121"""


def fetch(address: str, *, timeout: float = 5.0) -> pb.StatusResponse:
    """Call ``Status`` on the speaker at ``address``.

    Raises:
        grpc.RpcError: the speaker cannot be reached or failed to answer.
    """
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.SpeakerStub(channel)  # type: ignore[no-untyped-call]
        response: pb.StatusResponse = stub.Status(pb.StatusRequest(), timeout=timeout)
        return response


def to_json(response: pb.StatusResponse) -> str:
    data = json_format.MessageToDict(response, always_print_fields_with_no_presence=True)
    return json.dumps(data, indent=2, sort_keys=True)


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def _since(unix: float) -> str:
    if not unix:
        return "-"
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _join(items: Iterable[str]) -> str:
    return ",".join(items) or "-"


def to_text(r: pb.StatusResponse) -> str:
    """A human summary, one section per part."""
    c = r.config
    config = "valid" if c.loaded and not c.stale else ("stale (newest invalid)" if c.stale else "not loaded")
    lines = [
        f"Node {r.node}  (ironlb-speaker {r.version}, up {r.uptime_seconds:.0f}s)",
        f"Configuration: {config}; {c.pools} pools, {c.peers} BGP peers for this node",
    ]
    if c.stale and c.error_summary:
        lines.append(f"  {c.error_summary}")
    lines += ["", f"Layer 2 announcements ({len(r.l2)}):"]
    rows = [["IP", "PHASE", "SERVICES", "INTERFACES", "CAUSE", "SINCE"]]
    rows += [
        [a.ip, a.phase, _join(a.services), _join(a.interfaces), a.cause or "-", _since(a.since_unix)] for a in r.l2
    ]
    lines += _table(rows) if r.l2 else ["  (none)"]
    routes = sum(len(b.routes) for b in r.bgp)
    lines += ["", f"BGP advertisements ({routes} routes):"]
    rows = [["PEER", "PREFIX", "LOCAL_PREF", "COMMUNITIES", "SERVICES"]]
    for b in r.bgp:
        for route in b.routes:
            pref = str(route.local_pref) if route.has_local_pref else "-"
            communities = _join([*route.communities, *(f"large:{x}" for x in route.large_communities)])
            rows.append([b.peer, route.prefix, pref, communities, _join(route.services)])
    lines += _table(rows) if routes else ["  (none)"]
    lines += ["", f"BGP sessions ({len(r.bgp_sessions)}):"]
    rows = [["PEER", "ADDRESS", "STATE", "LOCAL", "ASN", "UPTIME", "HOLD", "ADVERTISED", "LAST ERROR"]]
    for s in r.bgp_sessions:
        uptime = f"{s.uptime_seconds:.0f}s" if s.uptime_seconds else "-"
        rows.append(
            [
                s.peer,
                s.address,
                s.state,
                s.local_address or "-",
                f"{s.local_asn}>{s.peer_asn}",
                uptime,
                f"{s.hold_time:g}s",
                str(len(s.advertised)),
                s.last_error or "-",
            ]
        )
    lines += _table(rows) if r.bgp_sessions else ["  (none)"]
    lines += ["", f"BFD sessions ({len(r.bfd_sessions)}):"]
    rows = [["PEER", "LOCAL", "PROFILE", "STATE", "REMOTE", "DIAGNOSTIC", "DETECT"]]
    for f in r.bfd_sessions:
        rows.append([f.peer, f.local, f.profile, f.state, f.remote_state, f.diagnostic, f"{f.detection_time_ms:g}ms"])
    lines += _table(rows) if r.bfd_sessions else ["  (none)"]
    m = r.membership
    lines += ["", f"Membership ({m.source or 'off'}, {sum(1 for x in m.members if x.state == 'alive')} alive):"]
    rows = [["NAME", "ADDRESS", "STATE", "METADATA"]]
    rows += [[x.name, x.address or "-", x.state, x.metadata or "-"] for x in m.members]
    lines += _table(rows) if m.members else ["  (none)"]
    lines += ["", "Counters:"]
    rows = [["NAME", "LABELS", "VALUE"]]
    for counter in r.counters:
        labels = ",".join(f"{k}={v}" for k, v in sorted(counter.labels.items()))
        rows.append([counter.name, labels or "-", f"{counter.value:g}"])
    lines += _table(rows)
    return "\n".join(lines) + "\n"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help="the speaker's --status-address: unix:///PATH or HOST:PORT (default: %(default)s)",
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format (text)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (5)")


def run(args: argparse.Namespace) -> int:
    try:
        response = fetch(args.address, timeout=args.timeout)
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        detail = exc.details() if hasattr(exc, "details") else str(exc)
        name = code.name if code is not None else "ERROR"
        print(
            f"ironlbctl status: cannot read the speaker's status at {args.address} ({name}: {detail}); "
            "check that the speaker runs and that --address is its --status-address",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(to_json(response) + "\n" if args.output == "json" else to_text(response))
    return 0


COMMAND = Command(
    name="status",
    summary="show what a speaker announces, and its BGP, BFD and membership state",
    description=DESCRIPTION,
    add_arguments=_add_arguments,
    run=run,
    epilog=EPILOG,
)

__all__ = ["COMMAND", "fetch", "to_json", "to_text"]
