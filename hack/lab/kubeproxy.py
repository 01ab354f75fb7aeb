"""The lab's stand-in for kube-proxy: nftables DNAT from LoadBalancer addresses to the Pods behind them.

A *stand-in* that lives only in hack/lab: one runs in every node namespace (inside ``ironlb-lab node-agent``). It
watches Services and EndpointSlices and keeps one nftables table, ``inet ironlb_lab_kubeproxy_standin``, equal to
what :func:`render` computes - replaced atomically (``nft -f``: delete and define in one transaction). It handles
only what ironlb's traffic needs: ``status.loadBalancer.ingress`` addresses x Service ports, TCP/UDP/SCTP:

* ``externalTrafficPolicy: Cluster`` - to any ready endpoint, chosen per connection (``numgen random``); traffic
  sent to an endpoint on another node is marked and masqueraded (the pod sees the forwarding node's address, as
  with kube-proxy);
* ``externalTrafficPolicy: Local`` - only this node's ready endpoints, client address preserved; none: dropped
  (kube-proxy drops there too, so only nodes with endpoints should attract the traffic: ironlb's job);
* no ready endpoints: serving-and-terminating ones are used (kube-proxy's fallback), else the traffic is dropped.

Real kube-proxy also does ClusterIPs, NodePorts, health-check ports and session affinity; the lab needs none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from loguru import logger

from hack.lab import standin
from hack.lab.standin import JSON, meta
from ironlb.kube.resources import ENDPOINTSLICES, SERVICES
from ironlb.kube.rest import Kube, Rest

TABLE = "ironlb_lab_kubeproxy_standin"
MASQ_MARK = 0x4000
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True, order=True)
class Endpoint:
    ip: str
    port: int
    node: str
    ready: bool
    serving: bool
    terminating: bool


@dataclass(frozen=True)
class Rule:
    """Traffic to ``ip:port/protocol`` goes to one of ``targets`` (empty: dropped)."""

    comment: str
    ip: str
    protocol: str
    port: int
    #: (endpoint ip, endpoint port, masquerade)
    targets: tuple[tuple[str, int, bool], ...]


def _family(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def _endpoints(slices: Iterable[Mapping[str, object]], port_name: str, protocol: str, family: str) -> list[Endpoint]:
    out: list[Endpoint] = []
    for eps in slices:
        if eps.get("addressType") != family:
            continue
        ports = [p for p in eps.get("ports") or [] if isinstance(p, dict)]  # type: ignore[attr-defined]
        match = [p for p in ports if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol]
        if not match or match[0].get("port") is None:
            continue
        port = int(match[0]["port"])
        for ep in eps.get("endpoints") or []:  # type: ignore[attr-defined]
            cond = ep.get("conditions") or {}
            ready = cond.get("ready") is not False  # nil means ready (discovery/v1)
            serving = cond.get("serving", ready) is not False
            terminating = bool(cond.get("terminating"))
            for address in ep.get("addresses") or []:
                out.append(Endpoint(str(address), port, str(ep.get("nodeName") or ""), ready, serving, terminating))
    return sorted(set(out))


def rules_for(service: Mapping[str, object], slices: Sequence[Mapping[str, object]], node: str) -> list[Rule]:
    """The DNAT rules this node needs for one Service (pure)."""
    spec = service.get("spec") or {}
    assert isinstance(spec, dict)
    if spec.get("type") != "LoadBalancer":
        return []
    status = service.get("status") or {}
    assert isinstance(status, dict)
    ingress = [i.get("ip") for i in (status.get("loadBalancer") or {}).get("ingress") or [] if i.get("ip")]
    local = spec.get("externalTrafficPolicy") == "Local"
    m = meta(service)
    rules: list[Rule] = []
    for ip in ingress:
        for port in spec.get("ports") or []:
            protocol = str(port.get("protocol") or "TCP")
            name = str(port.get("name") or "")
            endpoints = _endpoints(slices, name, protocol, _family(str(ip)))
            if local:
                endpoints = [e for e in endpoints if e.node == node]
            usable = [e for e in endpoints if e.ready] or [e for e in endpoints if e.serving and e.terminating]
            targets = tuple((e.ip, e.port, not local and e.node != node) for e in usable)
            comment = f"{m.get('namespace')}/{m.get('name')}:{name or port.get('port')}"
            rules.append(Rule(comment, str(ip), protocol.lower(), int(port["port"]), targets))
    return rules


def _dnat(family: str, protocol: str, ip: str, port: int) -> str:
    to = f"ip6 to [{ip}]:{port}" if family == "IPv6" else f"ip to {ip}:{port}"
    return f"meta l4proto {protocol} dnat {to}"


def render(rules: Sequence[Rule]) -> str:
    """The whole table as an ``nft -f`` script that replaces the previous one atomically (pure)."""
    services: list[str] = []
    no_endpoints: list[str] = []
    chains: list[str] = []
    for index, rule in enumerate(rules):
        family = _family(rule.ip)
        match = f"{'ip6' if family == 'IPv6' else 'ip'} daddr {rule.ip} {rule.protocol} dport {rule.port}"
        if not rule.targets:
            no_endpoints.append(f'    {match} drop comment "{rule.comment} has no endpoints here"')
            continue
        svc_chain = f"svc_{index}"
        services.append(f'    {match} jump {svc_chain} comment "{rule.comment}"')
        ep_chains = []
        for n, (ep_ip, ep_port, masq) in enumerate(rule.targets):
            ep_chain = f"{svc_chain}_ep_{n}"
            ep_chains.append(ep_chain)
            mark = f"meta mark set meta mark | {MASQ_MARK:#x}; " if masq else ""
            chains.append(f"  chain {ep_chain} {{ {mark}{_dnat(family, rule.protocol, ep_ip, ep_port)}; }}")
        if len(ep_chains) == 1:
            chains.append(f"  chain {svc_chain} {{ jump {ep_chains[0]}; }}")
        else:
            vmap = ", ".join(f"{n} : jump {c}" for n, c in enumerate(ep_chains))
            chains.append(f"  chain {svc_chain} {{ numgen random mod {len(ep_chains)} vmap {{ {vmap} }}; }}")
    # Regular chains first: a base chain may only jump to a chain that is already declared.
    lines = [
        f"table inet {TABLE}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        '  comment "ironlb-lab\'s kube-proxy stand-in (hack/lab/kubeproxy.py)"',
        *chains,
        "  chain services {",
        *services,
        "  }",
        "  chain no_endpoints {",
        *no_endpoints,
        "  }",
        "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }",
        "  chain output { type nat hook output priority -100; policy accept; jump services; }",
        "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;",
        f"    meta mark & {MASQ_MARK:#x} == {MASQ_MARK:#x} masquerade; }}",
        "  chain drops { type filter hook prerouting priority dstnat + 1; policy accept; jump no_endpoints; }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def ruleset(services: Iterable[JSON], slices: Iterable[JSON], node: str) -> str:
    """Services and EndpointSlices (as the API returns them) -> the table for ``node`` (pure)."""
    by_service: dict[tuple[str, str], list[JSON]] = {}
    for eps in slices:
        m = meta(eps)
        owner = (m.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if owner:
            by_service.setdefault((str(m.get("namespace")), str(owner)), []).append(eps)
    rules: list[Rule] = []
    for svc in sorted(services, key=lambda s: (meta(s).get("namespace", ""), meta(s).get("name", ""))):
        m = meta(svc)
        rules += rules_for(svc, by_service.get((str(m.get("namespace")), str(m.get("name"))), []), node)
    return render(rules)


async def nft(script: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "nft", "-f", "-", stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate(script.encode())
    if proc.returncode != 0:
        raise RuntimeError(f"nft -f failed: {err.decode().strip()}")


class KubeProxy:
    """Keeps this node namespace's table equal to :func:`ruleset` of what the informers hold."""

    def __init__(self, rest: Rest, kube: Kube, node: str) -> None:
        del kube
        self.node = node
        self.services = standin.informer(rest, SERVICES)
        self.slices = standin.informer(rest, ENDPOINTSLICES)
        self.applied: str | None = None
        self.loop = standin.Reconciler("kube-proxy", [self.services, self.slices], self.reconcile, debounce=0.002)

    async def reconcile(self) -> None:
        script = ruleset(self.services.store.values(), self.slices.store.values(), self.node)
        if script == self.applied:
            return
        await nft(script)
        self.applied = script
        logger.bind(rules=script.count(" jump svc_")).info("nftables table updated")

    def tasks(self) -> list[asyncio.Future[None] | asyncio.Task[None]]:
        return [
            asyncio.ensure_future(self.services.run()),
            asyncio.ensure_future(self.slices.run()),
            asyncio.ensure_future(self.loop.run()),
        ]

    async def cleanup(self) -> None:
        proc = await asyncio.create_subprocess_exec("nft", "delete", "table", "inet", TABLE)
        await proc.wait()


__all__ = ["MASQ_MARK", "TABLE", "Endpoint", "KubeProxy", "Rule", "render", "rules_for", "ruleset"]
