"""BGP benchmarks: 10,000 prefixes to a BIRD router, from ironlb and from FRR, side by side in one run.

What is measured, at the router (BIRD 2 in the ``router`` namespace, its RIB only, no kernel export):

* announce: from the moment the session is Established - the earlier of BIRD's log line (``State changed to
  up``, microsecond timestamps) and the announcer's own (ironlb's ``session`` event, FRR's ``%ADJCHANGE ... Up``
  with ``log timestamp precision 6``) - until ``show route protocol X count`` over BIRD's control socket (polled
  every ~1 ms) says all 10,000 prefixes are held. The announcer has the prefixes before the session comes up.
* withdraw: from the command until BIRD holds none: ironlb's ``set_routes({})`` (a JSON line on its stdin);
  FRR's outbound deny route-map set through ``vtysh``, whose own start-up time is measured beside it.

Announcers: ironlb (``python -m speaker.bgp.standalone`` in ``node1``) and FRR bgpd with zebra (``node2``,
``coalesce-time 0`` as lab-notes says, ``network`` statements, withdrawal by an outbound deny route-map). Each
round resets the session from BIRD (``restart nX``). Prefixes come only from the documentation ranges this lab may
use: the 10,000-prefix rows announce /128s from 2001:db8:1000::/52; the IPv4 rows announce every /32 the three IPv4
documentation ranges hold (768), because 10,000 distinct IPv4 /32s do not fit in them. All live in BIRD's RIB only
(nothing is installed in a kernel and no packet is sent to them).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from hack.bench.registry import Benchmark, Result
from hack.lab.netns import Topology

COUNT_V6 = 10_000
ROUNDS = 5
FRR = Path("/usr/lib/frr")
V4_RANGES = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
V6_BASE = ipaddress.IPv6Address("2001:db8:1000::")


def prefixes(version: int) -> list[str]:
    if version == 4:
        return [f"{a}/32" for net in V4_RANGES for a in ipaddress.IPv4Network(net)]
    return [f"{V6_BASE + i + 1}/128" for i in range(COUNT_V6)]


def count(version: int) -> int:
    return len(prefixes(version))


class BirdControl:
    """One connection to BIRD's control socket; queries without spawning birdc."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.buf = b""
        self._reply()

    def _reply(self) -> list[str]:
        lines: list[str] = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("BIRD closed its control socket")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            text = line.decode()
            lines.append(text)
            if len(text) >= 5 and text[:4].isdigit() and text[4] == " ":
                return lines

    def query(self, command: str) -> list[str]:
        self.sock.sendall(command.encode() + b"\n")
        return self._reply()

    def count(self, protocol: str, table: str) -> int:
        for line in self.query(f"show route protocol {protocol} count table {table}"):
            words = line[5:].split()
            if len(words) > 2 and words[1] == "of":
                return int(words[0])
        return 0

    def close(self) -> None:
        self.sock.close()


BIRD_CONF = """
timeformat log "%F %T.%6f";
log "{log}" all;
router id 192.0.2.1;
debug protocols {{ states }};
protocol device {{ }}
template bgp announcer {{
  local as 64512;
  connect delay time 1; connect retry time 1; error wait time 1, 5; hold time 30;
  ipv4 {{ import all; export none; }};
  ipv6 {{ import all; export none; }};
}}
protocol bgp n1 from announcer {{ neighbor 192.0.2.11 as 64513; }}
protocol bgp n2 from announcer {{ neighbor 192.0.2.12 as 64513; }}
"""


def frr_conf(version: int, log: Path) -> str:
    family = "ipv4" if version == 4 else "ipv6"
    networks = "\n".join(f"  network {p}" for p in prefixes(version))
    return f"""frr defaults traditional
hostname node2
log file {log}
log timestamp precision 6
router bgp 64513
 bgp router-id 192.0.2.12
 bgp log-neighbor-changes
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 coalesce-time 0
 neighbor 192.0.2.1 remote-as 64512
 neighbor 192.0.2.1 timers connect 1
 address-family {family} unicast
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.1 route-map ALL out
{networks}
 exit-address-family
route-map ALL permit 10
route-map NONE deny 10
"""


class Lab:
    """The router with BIRD, node1 with ironlb's speaker, node2 with FRR."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.table = "master4" if version == 4 else "master6"
        self.dir = Path(tempfile.mkdtemp(prefix="ilb-bench-bgp-"))
        self.dir.chmod(0o755)
        self.topo = Topology.standard(nodes=2, client=False, tag="b").up()
        self.log = self.dir / "bird.log"
        conf = self.dir / "bird.conf"
        conf.write_text(BIRD_CONF.format(log=self.log))
        self.ctl_path = self.dir / "bird.ctl"
        self.topo.popen(
            "router",
            ["bird", "-f", "-c", str(conf), "-s", str(self.ctl_path), "-P", str(self.dir / "pid")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(self.ctl_path.exists, "BIRD", 10)
        self.ctl = BirdControl(self.ctl_path)
        self.speaker: subprocess.Popen[str] | None = None
        self.frr_run: Path | None = None

    # -- ironlb ------------------------------------------------------------------------------------
    def start_ironlb(self) -> None:
        self.speaker = self.topo.popen(
            "node1",
            [sys.executable, "-m", "speaker.bgp.standalone", "--node", "node1", "--log-level", "WARNING"],
            stdin=subprocess.PIPE,
            stdout=(self.dir / "speaker.events").open("w"),
            stderr=(self.dir / "speaker.log").open("w"),
            text=True,
        )
        self.ironlb_routes(announce=True)
        self._speaker_send(
            op="peers",
            peers=[{"name": "r", "my_asn": 64513, "peer_asn": 64512, "peer_address": "192.0.2.1", "hold_time": 30}],
        )

    def ironlb_routes(self, *, announce: bool) -> None:
        items = [{"prefix": p} for p in prefixes(self.version)] if announce else []
        self._speaker_send(op="routes", routes={"r": items})

    def _speaker_send(self, **command: Any) -> None:
        assert self.speaker is not None and self.speaker.stdin is not None
        self.speaker.stdin.write(json.dumps(command) + "\n")
        self.speaker.stdin.flush()

    # -- FRR ---------------------------------------------------------------------------------------
    def start_frr(self) -> None:
        name = self.topo.ns("node2")
        self.frr_run = Path(f"/var/run/frr/{name}")
        self.frr_run.mkdir(parents=True, exist_ok=True)
        for path in (self.frr_run, self.dir):
            shutil.chown(path, "frr", "frr")
        conf = self.dir / "bgpd.conf"
        conf.write_text(frr_conf(self.version, self.dir / "bgpd.log"))
        shutil.chown(conf, "frr", "frr")
        for daemon, config in (("zebra", "/dev/null"), ("bgpd", str(conf))):
            self.topo.popen(
                "node2",
                [
                    str(FRR / daemon),
                    "-N",
                    name,
                    "-f",
                    config,
                    "-i",
                    f"{self.frr_run}/{daemon}.pid",
                    "--log",
                    f"file:{self.dir}/{daemon}-startup.log",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _wait(lambda d=daemon: (self.frr_run / f"{d}.vty").exists(), f"FRR {daemon}", 20)

    def vtysh(self, *commands: str) -> None:
        argv = ["vtysh", "-N", self.topo.ns("node2")]
        for command in commands:
            argv += ["-c", command]
        subprocess.run(argv, capture_output=True, timeout=30, check=True)

    def frr_route_map(self, name: str) -> None:
        family = "ipv4" if self.version == 4 else "ipv6"
        subprocess.run(
            [
                "vtysh",
                "-N",
                self.topo.ns("node2"),
                "-c",
                "configure terminal",
                "-c",
                "router bgp 64513",
                "-c",
                f"address-family {family} unicast",
                "-c",
                f"neighbor 192.0.2.1 route-map {name} out",
            ],
            capture_output=True,
            timeout=30,
            check=True,
        )

    # -- measuring -----------------------------------------------------------------------------------
    def established_at(self, protocol: str, after: float) -> float | None:
        """BIRD's log time of the last ``State changed to up`` of ``protocol`` after ``after`` (epoch seconds)."""
        found = None
        for line in self.log.read_text().splitlines():
            if f"{protocol}: State changed to up" in line:
                stamp = datetime.strptime(line[:26], "%Y-%m-%d %H:%M:%S.%f").timestamp()
                if stamp >= after:
                    found = stamp
        return found

    def announcer_up_at(self, protocol: str, after: float) -> float | None:
        """The announcer's own Established time (epoch) after ``after``: ironlb's event, FRR's ADJCHANGE line."""
        found = None
        if protocol == "n1":
            path = self.dir / "speaker.events"
            for line in path.read_text().splitlines() if path.exists() else ():
                event = json.loads(line)
                if event.get("event") == "session" and event.get("established") and event["t"] >= after:
                    found = float(event["t"])
        else:
            path = self.dir / "bgpd.log"
            for line in path.read_text().splitlines() if path.exists() else ():
                if "%ADJCHANGE" in line and " Up" in line:
                    stamp = datetime.strptime(line[:26], "%Y/%m/%d %H:%M:%S.%f").timestamp()
                    if stamp >= after:
                        found = stamp
        return found

    def wait_count(self, protocol: str, target: int, limit: float = 60.0) -> tuple[float, float | None]:
        """Poll until BIRD holds ``target`` routes from ``protocol``: (time reached, first time it moved)."""
        start = self.ctl.count(protocol, self.table)
        first_move = None
        deadline = time.time() + limit
        while True:
            count = self.ctl.count(protocol, self.table)
            now = time.time()
            if first_move is None and count != start:
                first_move = now
            if count == target:
                return now, first_move
            if now > deadline:
                raise TimeoutError(f"BIRD holds {count} routes from {protocol}, waiting for {target}")
            time.sleep(0.001)

    def restart(self, protocol: str) -> float:
        """Reset the session from BIRD's side; returns when it was asked (epoch)."""
        asked = time.time()
        self.ctl.query(f"restart {protocol}")
        return asked

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ctl.close()
        self.topo.down()
        if self.frr_run is not None:
            shutil.rmtree(self.frr_run, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait(probe: Any, what: str, limit: float) -> None:
    deadline = time.time() + limit
    while not probe():
        if time.time() > deadline:
            raise TimeoutError(f"{what} did not start")
        time.sleep(0.02)


def _announce_round(lab: Lab, protocol: str, total: int) -> float:
    """Reset the session and measure Established -> all held, in ms.

    Established is the earlier of the router's (BIRD's log) and the announcer's own (its event or log line):
    whichever side got there first, the announcer may send from that moment.
    """
    asked = lab.restart(protocol)
    lab.wait_count(protocol, 0)
    done, _ = lab.wait_count(protocol, total)
    ups: list[float | None] = [None, None]
    deadline = time.time() + 5
    while None in ups and time.time() < deadline:
        ups = [lab.established_at(protocol, asked), lab.announcer_up_at(protocol, asked)]
        time.sleep(0.01)
    if None in ups:
        raise RuntimeError(f"no Established time for {protocol} (router, announcer: {ups})")
    return (done - min(u for u in ups if u is not None)) * 1000


def measure(version: int) -> dict[str, list[float]]:
    lab = Lab(version)
    total = count(version)
    out: dict[str, list[float]] = {
        k: [] for k in ("ironlb_announce", "ironlb_withdraw", "frr_announce", "frr_withdraw", "vtysh")
    }
    try:
        lab.start_ironlb()
        lab.wait_count("n1", total)
        for _ in range(ROUNDS):
            out["ironlb_announce"].append(_announce_round(lab, "n1", total))
            asked = time.time()
            lab.ironlb_routes(announce=False)
            done, _ = lab.wait_count("n1", 0)
            out["ironlb_withdraw"].append((done - asked) * 1000)
            lab.ironlb_routes(announce=True)
            lab.wait_count("n1", total)
        lab.start_frr()
        lab.wait_count("n2", total)
        for _ in range(ROUNDS):
            out["frr_announce"].append(_announce_round(lab, "n2", total))
            asked = time.time()
            lab.frr_route_map("NONE")
            done, _ = lab.wait_count("n2", 0)
            out["frr_withdraw"].append((done - asked) * 1000)
            lab.frr_route_map("ALL")
            lab.wait_count("n2", total)
            started = time.time()
            lab.vtysh("show version")
            out["vtysh"].append((time.time() - started) * 1000)
    finally:
        lab.close()
    return out


def _rows(version: int) -> list[Result]:
    m = measure(version)
    med = {k: statistics.median(v) for k, v in m.items()}
    unit = f"{count(version):,} " + ("/32" if version == 4 else "/128")

    def note(key: str) -> str:
        return f"median of {ROUNDS}; all: {[round(x, 1) for x in m[key]]}"

    return [
        Result(
            f"ironlb announce {unit}, Established -> BIRD holds all",
            med["ironlb_announce"],
            "ms",
            ("<=", 30),
            note("ironlb_announce"),
        ),
        Result(
            f"FRR announce {unit}, Established -> BIRD holds all",
            med["frr_announce"],
            "ms",
            None,
            note("frr_announce"),
        ),
        Result(f"ironlb/FRR announce ratio ({unit})", med["ironlb_announce"] / med["frr_announce"], "x", ("<=", 2)),
        Result(
            f"ironlb withdraw {unit}, set_routes command -> BIRD holds none",
            med["ironlb_withdraw"],
            "ms",
            ("<=", 50),
            note("ironlb_withdraw"),
        ),
        Result(
            f"FRR withdraw {unit}, vtysh route-map -> BIRD holds none",
            med["frr_withdraw"],
            "ms",
            None,
            note("frr_withdraw") + "; includes vtysh start-up (next row)",
        ),
        Result("vtysh start-up (show version)", med["vtysh"], "ms", None, note("vtysh")),
    ]


BENCHMARKS = [
    Benchmark(
        name="bgp_ipv4_768",
        run=lambda: _rows(4),
        description="all 768 documentation-range /32 to a BIRD router: ironlb vs FRR (ms at the router)",
        needs_root=True,
        needs_programs=("bird", "birdc", "vtysh", str(FRR / "bgpd"), str(FRR / "zebra")),
    ),
    Benchmark(
        name="bgp_10k_ipv6",
        run=lambda: _rows(6),
        description="10,000 /128 to a BIRD router: ironlb vs FRR, announce and withdraw (ms at the router)",
        needs_root=True,
        needs_programs=("bird", "birdc", "vtysh", str(FRR / "bgpd"), str(FRR / "zebra")),
    ),
]
