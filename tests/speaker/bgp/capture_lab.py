"""Record real BIRD and FRR BGP sessions with tcpdump: ``python -m tests.speaker.bgp.capture_lab``.

Writes ``tests/data/bgp/{bird,frr}-session.pcap``: the router (BIRD 2 or FRR) peers with our speaker in
``node1`` over IPv4, sends routes with every attribute it can (communities, large communities, MED, a prepended
AS path, IPv6 over MP-BGP, many communities for an extended-length attribute), withdraws one, then shuts the
session down with a message (Cease / Administrative Shutdown). ``test_captures.py`` decodes every message in
them. Run as root, with BIRD and FRR installed; it takes a few seconds.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from hack.lab.netns import Topology
from tests.speaker.bgp.lab import Bird, Frr, Speaker, peer, remove_tree, wait_for, workdir

DATA = Path(__file__).resolve().parents[2] / "data" / "bgp"
MANY = " ".join(f"bgp_community.add((65001,{i}));" for i in range(80))

BIRD_EXPORT = f"""
router id 192.0.2.1;
protocol device {{ }}
protocol static s4 {{ ipv4; route 203.0.113.0/25 blackhole; route 203.0.113.128/26 blackhole; }}
protocol static s6 {{ ipv6; route 2001:db8:300::/64 blackhole; }}
filter out_v4 {{
  bgp_community.add((65000,100)); bgp_large_community.add((64512,1,2)); bgp_med = 50; bgp_path.prepend(64512);
  if net = 203.0.113.128/26 then {{ {MANY} }}
  accept;
}}
protocol bgp n1 {{
  local as 64512; neighbor 192.0.2.11 as 64513; connect delay time 1; connect retry time 1;
  ipv4 {{ import all; export filter out_v4; }};
  ipv6 {{ import all; export filter {{ bgp_community.add((65000,600)); accept; }}; }};
}}
"""

FRR_EXPORT = """frr defaults traditional
hostname router
router bgp 64512
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 neighbor 192.0.2.11 remote-as 64513
 neighbor 192.0.2.11 timers connect 1
 address-family ipv4 unicast
  network 203.0.113.0/25
  network 203.0.113.128/26
  neighbor 192.0.2.11 activate
  neighbor 192.0.2.11 route-map OUT out
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:300::/64
  neighbor 192.0.2.11 activate
 exit-address-family
route-map OUT permit 10
 set community 65000:200 additive
 set large-community 64512:3:4 additive
 set metric 70
 set as-path prepend 64512 64512
"""


def record(name: str, start_router: object) -> None:
    directory = workdir(name)
    try:
        with Topology.standard(nodes=1, client=False, tag="cap") as topo:
            pcap = directory / f"{name}.pcap"
            dump = topo.popen(
                "router",
                ["tcpdump", "--immediate-mode", "-i", "eth0", "-U", "-s", "0", "-w", str(pcap), "tcp port 179"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            speaker = Speaker(topo, "node1", directory)
            speaker.peers(peer("r", 64513, 64512, "192.0.2.1", hold_time=9))
            speaker.routes({"r": [{"prefix": "198.51.100.10/32", "communities": ["65000:1"]}]})
            router = start_router(topo, directory)  # type: ignore[operator]
            speaker.established("r")
            wait_for(lambda: speaker.status()[0]["prefixes_received"] >= 3, "the router's three prefixes", 30)
            time.sleep(3.5)  # a keepalive or two
            router.withdraw_and_stop()
            speaker.wait_event(lambda e: e.get("event") == "session" and e.get("established") is False, "Cease")
            time.sleep(1.5)  # let tcpdump write the Cease and the FINs
            topo.stop(dump)
            DATA.mkdir(parents=True, exist_ok=True)
            (DATA / f"{name}-session.pcap").write_bytes(pcap.read_bytes())
            print(f"wrote {DATA / f'{name}-session.pcap'} ({pcap.stat().st_size} octets)")
    finally:
        remove_tree(directory)


class _BirdRouter:
    def __init__(self, topo: Topology, directory: Path) -> None:
        self.bird = Bird(topo, "router", directory, BIRD_EXPORT)

    def withdraw_and_stop(self) -> None:
        self.bird.cli("disable", "s6")
        time.sleep(1)
        self.bird.cli("disable", "n1", '"end of the capture"')


class _FrrRouter:
    def __init__(self, topo: Topology, directory: Path) -> None:
        self.frr = Frr(topo, "router", directory, FRR_EXPORT)

    def withdraw_and_stop(self) -> None:
        self.frr.vtysh(
            "configure terminal", "router bgp 64512", "address-family ipv6 unicast", "no network 2001:db8:300::/64"
        )
        time.sleep(1)
        self.frr.vtysh("configure terminal", "router bgp 64512", "neighbor 192.0.2.11 shutdown message end-of-capture")
        time.sleep(0.5)
        self.frr.close()


def main() -> None:
    record("bird", _BirdRouter)
    record("frr", _FrrRouter)


if __name__ == "__main__":
    main()
