"""``hack/demo``: the seed scenario (MetalLB's layer-2 walkthrough, /work/shared/seed.md) replayed in the lab.

It brings up an emulated cluster (:class:`hack.lab.cluster.Lab`: 3 nodes, a BIRD router, a client on the LAN and a
host behind the router), applies what a MetalLB user applies - an IPAddressPool and an L2Advertisement, the whoami
Deployment and its LoadBalancer Service - shows ``kubectl get svc`` with the EXTERNAL-IP and two answers from
whoami, then kills the node that announces the address (its speaker SIGKILLed, its link cut) while a client sends
a request every 20 ms, and says how long until requests were answered again. Last, the BGP variant: a BGPPeer and
a BGPAdvertisement, the router's ECMP route, and requests from the outside host through the router. Everything
is torn down at the end, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from hack.lab import probe
from hack.lab.cluster import Lab, LabOptions, speaker_available
from hack.lab.kubeapi import load_yaml, wait_for
from hack.lab.netns import list_ours

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "e2e" / "data"
SEED_RANGE = "10.244.244.100-10.244.244.200"
GRACE = 10.0

BGP_CONFIG = """\
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: router
  namespace: metallb-system
spec:
  peerAddress: 192.0.2.1
  peerASN: 64512
  myASN: 64513
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: example
  namespace: metallb-system
spec:
  ipAddressPools:
  - first-pool
"""


class Screen:
    """Short, timestamped progress lines; command outputs indented under them."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def step(self, text: str) -> None:
        print(f"\n[{time.monotonic() - self.t0:5.1f}s] {text}", flush=True)

    def say(self, text: str) -> None:
        print(f"         {text}", flush=True)

    def show(self, command: str, output: str) -> None:
        print(f"         $ {command}", flush=True)
        print(textwrap.indent(output.rstrip("\n"), "           "), flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    screen = Screen()
    signal.signal(signal.SIGTERM, _interrupt)
    if not speaker_available():
        print("hack/demo: ironlb-speaker is not available in this checkout (speaker/cli.py)", file=sys.stderr)
        return 1
    screen.step(f"Starting the lab: {args.nodes} nodes, a BIRD router, a client on the LAN, a host behind the router")
    lab = Lab(LabOptions(nodes=args.nodes, router="bird", node_monitor_grace=GRACE, tag="demo"))
    status = 0
    try:
        lab.up()
        _cluster(lab, screen)
        ip = _seed(lab, screen)
        _failover(lab, screen, ip)
        _bgp(lab, screen, ip)
        screen.step("Done: the seed scenario ran on ironlb unchanged (but for its address range).")
    except KeyboardInterrupt:
        screen.step("Interrupted.")
        status = 130
    finally:
        clean = _teardown(lab, screen)
    return status if clean else 1


def _teardown(lab: Lab, screen: Screen) -> bool:
    """Remove the lab and check that nothing of it is left; True when nothing is."""
    screen.step("Tearing the lab down ...")
    run_id = lab.topo.run_id
    count = len(lab.namespaces()) if lab.topo.hosts else 0
    processes = sum(1 for p in lab.programs() if p["pid"])
    lab.down()
    left = [n for n in list_ours() if n.startswith(run_id + "-")]
    alive = [p.name for p in (lab.supervisor.programs.values() if lab.supervisor else []) if p.running]
    done = f"removed {count} network namespaces and {processes} processes; " if count else ""
    if left or alive:
        screen.say(done + f"STILL PRESENT: {', '.join(left + alive)}")
        return False
    screen.say(done + "nothing left behind.")
    return True


def _cluster(lab: Lab, screen: Screen) -> None:
    screen.step("The cluster: Nodes registered by kubelets with --cloud-provider=external, initialized by ironlb-ccm")
    screen.show("kubectl get nodes", lab.kubectl("get", "nodes").stdout)
    screen.show("kubectl get pods -n metallb-system", lab.kubectl("get", "pods", "-n", "metallb-system").stdout)


def _seed(lab: Lab, screen: Screen) -> str:
    pool_yaml = (DATA / "l2-pool.yaml").read_text()
    first, last = load_yaml(pool_yaml)[0]["spec"]["addresses"][0].split("-")
    screen.step("Layer 2 configuration: the seed's IPAddressPool and L2Advertisement")
    screen.say(f"(the seed's pool {SEED_RANGE} is not usable here: the lab may only use documentation")
    screen.say(f" address ranges, so the pool is {first}-{last}; nothing else changes)")
    screen.show("kubectl apply -f l2-pool.yaml", lab.kubectl("apply", "-f", "-", input=pool_yaml).stdout)
    screen.step("The seed's whoami Deployment (2 replicas) and its LoadBalancer Service")
    whoami = (DATA / "whoami.yaml").read_text()
    screen.show("kubectl apply -f whoami.yaml", lab.kubectl("apply", "-f", "-", input=whoami).stdout)
    assert lab.kube is not None
    started = time.monotonic()
    ips = lab.kube.wait_ingress("whoami", "default", timeout=30)
    ip = ips[0]
    took = time.monotonic() - started
    lab.wait_ready("whoami", "default", 2)
    screen.step(f"EXTERNAL-IP {ip}, {took * 1000:.0f} ms after the Service was created")
    screen.show("kubectl get all -n default", lab.kubectl("get", "all", "-n", "default").stdout)
    screen.step("Two requests from the client on the LAN (it resolves the address with ARP, like any LAN host)")
    for _ in range(2):
        screen.show(f"curl {ip}", lab.answer("client", f"http://{ip}/"))
    return ip


def _failover(lab: Lab, screen: Screen, ip: str) -> None:
    owner = lab.l2_owner(ip)
    assert owner is not None and lab.kube is not None
    pods_there = [
        p["metadata"]["name"]
        for p in lab.kube.list("v1", "Pod", "default", label_selector="task=whoami")
        if p["spec"].get("nodeName") == owner
    ]
    screen.step(f"Failover: {owner} announces {ip} (the client's ARP entry holds its MAC)")
    screen.say("a client now sends a request every 20 ms, each on a new connection; then we kill")
    screen.say(f"{owner}: its ironlb-speaker gets SIGKILL and its link is cut (no goodbye of any kind)")
    with lab.probe("client", f"http://{ip}/") as run:
        time.sleep(1.0)
        killed_at = lab.kill_node(owner)
        if pods_there:
            # Wait until Kubernetes takes the dead node's Pod out of the endpoints, so the run shows both parts.
            wait_for(
                lambda: not _ready_endpoint_on(lab, owner),
                timeout=GRACE + 30,
                what=f"the endpoints on {owner} to be removed",
            )
        time.sleep(2.0)
        attempts = run.stop()
    after = probe.analyze(attempts, since=killed_at)
    moved = next((o for o in after.outages), None)
    new_owner = lab.l2_owner(ip)
    if moved is None:
        screen.step(f"No request failed: the address moved to {new_owner} between two requests")
    else:
        screen.step(
            f"Requests were answered again {1000 * (moved.end - killed_at):.0f} ms after the kill, "
            f"now through {new_owner}"
        )
    screen.say(after.line())
    if pods_there:
        later = after.outages[1:]
        failed_later = sum(o.failed for o in later)
        screen.say(
            f"{owner} also ran the whoami pod {pods_there[0]}: until Kubernetes marks a dead node NotReady and takes"
        )
        screen.say(f"its pods out of the endpoints ({GRACE:g} s in this lab, 40 s by default), kube-proxy still sends")
        screen.say(
            f"some connections there: {failed_later} requests failed that way - Kubernetes, not the load balancer."
        )
    screen.step(f"Bringing {owner} back (link up, speaker restarted)")
    lab.revive_node(owner)
    wait_for(lambda: lab.speaker_ready(owner), timeout=60, what=f"the speaker on {owner} to be ready")


def _ready_endpoint_on(lab: Lab, node: str) -> bool:
    assert lab.kube is not None
    for eps in lab.kube.list(
        "discovery.k8s.io/v1", "EndpointSlice", "default", label_selector="kubernetes.io/service-name=whoami"
    ):
        for ep in eps.get("endpoints") or []:
            if ep.get("nodeName") == node and (ep.get("conditions") or {}).get("ready"):
                return True
    return False


def _bgp(lab: Lab, screen: Screen, ip: str) -> None:
    screen.step("The BGP variant: a BGPPeer (the router, AS 64512) and a BGPAdvertisement for the same pool")
    screen.show("kubectl apply -f bgp.yaml", lab.kubectl("apply", "-f", "-", input=BGP_CONFIG).stdout)
    router = lab.router
    assert router is not None
    hops = wait_for(
        lambda: found if len(found := router.nexthops(ip)) >= 2 else None,
        timeout=60,
        what=f"the router to have an ECMP route to {ip}",
    )
    screen.step(f"The router's kernel has an ECMP route to {ip} with {len(hops)} next hops (the nodes)")
    screen.show(f"ip route show {ip}    # on the router", router.route_text(ip))
    screen.step("Two requests from the outside host, which reaches the address only through the router")
    for _ in range(2):
        screen.show(f"curl {ip}    # on the outside host", lab.answer("outside", f"http://{ip}/"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hack/demo", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--nodes", type=int, default=3, help="how many nodes (default 3)")
    args: Any = p.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
