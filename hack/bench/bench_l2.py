"""L2 data plane: how fast ironlb answers ARP and NDP, next to the kernel answering for its own address.

One topology (node1 and a client on a bridge, in namespaces), one ``python -m speaker.l2`` process in node1 owning
198.51.100.10 and 2001:db8:100::10, and in the client:

- ARP latency as ``arping -W 0.01`` sees it (the lab-notes anchor: kernel 7/11 us, a minimal Python AF_PACKET
  responder 75/152 us p50/p99), for the announcer's address and, as a control run alone before it, a minimal
  blocking Python responder (:func:`minimal_responder`); each phase interleaved with node1's own 192.0.2.11 (the
  kernel);
- the same request -> reply latency measured by a Python raw-socket prober (:func:`probe_latency`), for ARP and for
  Neighbor Solicitations, ours and the kernel's - the prober's own overhead is in both columns alike;
- requests per second answered with none missed (:func:`flood`): precomputed ARP requests sent on a raw socket in a
  tight loop, paced by sleeping between chunks of 32; replies counted on a BPF-filtered socket through
  ``PACKET_STATISTICS`` (counting without reading, so the counter never falls behind). Each target rate runs for
  about a second; the result is the highest rate the sender actually achieved with every request answered, and the
  note lists each step with its misses and the responder's receive-buffer overflows. For the flood, the announcer
  and the sender are pinned to different CPUs when there are two (see :func:`_flood_cpus`).

Run: ``python -m hack.bench l2``. The helpers run inside the client namespace as ``python -m hack.bench.bench_l2
latency|flood ...`` (they send packets, so never run them elsewhere).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time
from typing import Any

from hack.bench.registry import Benchmark, Result
from speaker.l2 import bpf
from speaker.l2.core import arp, ndp
from speaker.l2.core.ethernet import parse_mac
from speaker.l2.runner import L2Process, popen_kwargs

VIP4 = "198.51.100.10"
VIP6 = "2001:db8:100::10"
VIP4_MINIMAL = "198.51.100.11"
SOL_PACKET = 263
PACKET_STATISTICS = 6
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD

# --------------------------------------------------------------------------------------------------------------
# Helpers that run inside the client namespace.


def _replies_filter(src_mac: bytes, *, ndp_replies: bool, to_mac: bytes | None = None) -> bytes:
    """BPF: ARP replies (or ICMPv6 NA) whose Ethernet source is ``src_mac`` (and ARP target MAC ``to_mac``)."""
    high = int.from_bytes(src_mac[:2], "big")
    low = int.from_bytes(src_mac[2:], "big")
    program = [
        bpf.load_half(6),
        bpf.jump_if(high, false="drop"),
        bpf.Insn(0x20, 8),  # ld [8]: the low 4 bytes of the source MAC
        bpf.jump_if(low, false="drop"),
        bpf.load_half(12),
    ]
    if ndp_replies:
        program += [
            bpf.jump_if(0x86DD, false="drop"),
            bpf.load_byte(20),
            bpf.jump_if(58, false="drop"),
            bpf.load_byte(54),
            bpf.jump_if(136, false="drop"),
        ]
    else:
        program += [bpf.jump_if(0x0806, false="drop"), bpf.load_half(20), bpf.jump_if(2, false="drop")]
        if to_mac is not None:  # not the announcements' reply form, whose target MAC is the sender's own
            program += [
                bpf.load_half(32),
                bpf.jump_if(int.from_bytes(to_mac[:2], "big"), false="drop"),
                bpf.Insn(0x20, 34),
                bpf.jump_if(int.from_bytes(to_mac[2:], "big"), false="drop"),
            ]
    program += [bpf.ret(128), bpf.ret(0, label="drop")]
    return bpf.assemble(program)


def _open(ifname: str, protocol: int, program: bytes | None, rcvbuf: int) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    if program is not None:
        bpf.attach(sock, program)
    sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE
    sock.bind((ifname, protocol))
    return sock


def _statistics(sock: socket.socket) -> tuple[int, int]:
    packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    return packets, drops


def probe_latency(ifname: str, target: str, peer_mac: str, count: int, interval: float) -> list[float]:
    """Request -> reply times in microseconds for ``count`` ARP requests / NS for ``target``.

    Each request comes from a different sender address and only the reply addressed to it counts, so a late reply
    is never taken for the next one's.
    """
    my_mac = parse_mac(open(f"/sys/class/net/{ifname}/address").read().strip())  # noqa: PTH123, SIM115
    ip = ipaddress.ip_address(target)
    v6 = isinstance(ip, ipaddress.IPv6Address)
    rx = _open(ifname, ETH_P_IPV6 if v6 else ETH_P_ARP, _replies_filter(parse_mac(peer_mac), ndp_replies=v6), 1 << 20)
    tx = _open(ifname, 0, None, 1 << 20)
    requests: list[tuple[bytes, bytes]] = []  # (frame, what the reply's destination-address field must be)
    for i in range(64):
        if isinstance(ip, ipaddress.IPv6Address):
            source6 = ipaddress.IPv6Address(f"2001:db8::1:{i}")
            requests.append((ndp.solicitation_frame(my_mac, source6, ip), source6.packed))
        else:
            source4 = ipaddress.IPv4Address(f"192.0.2.{128 + i}")
            requests.append((arp.request_frame(my_mac, source4, ip), source4.packed))
    where = slice(38, 54) if v6 else slice(38, 42)  # IPv6 destination / ARP target IP
    samples: list[float] = []
    for n in range(count):
        frame, expected = requests[n % len(requests)]
        rx.setblocking(False)
        while True:  # drop anything left over
            try:
                rx.recv(256)
            except BlockingIOError:
                break
        rx.settimeout(0.2)
        sent = time.perf_counter_ns()
        tx.send(frame)
        try:
            while rx.recv(256)[where] != expected:
                pass
        except TimeoutError:
            continue
        samples.append((time.perf_counter_ns() - sent) / 1000)
        time.sleep(interval)
    return samples


def flood(ifname: str, target: str, peer_mac: str, rate: float, count: int) -> dict[str, Any]:
    """Send ``count`` ARP requests for ``target`` at ``rate``/s; count replies from ``peer_mac``."""
    my_mac = parse_mac(open(f"/sys/class/net/{ifname}/address").read().strip())  # noqa: PTH123, SIM115
    rx = _open(ifname, ETH_P_ARP, _replies_filter(parse_mac(peer_mac), ndp_replies=False, to_mac=my_mac), 1 << 16)
    tx = _open(ifname, 0, None, 1 << 20)
    tx.setblocking(True)
    base = int(ipaddress.IPv4Address("192.0.2.128"))
    frames = [
        arp.request_frame(my_mac, ipaddress.IPv4Address(base + i), ipaddress.IPv4Address(target)) for i in range(64)
    ]
    chunk = 32
    chunks = [frames[i : i + chunk] for i in range(0, len(frames), chunk)]
    _statistics(rx)  # reset
    send = tx.send
    failed = 0
    start = time.perf_counter()
    sent = 0
    while sent < count:
        for frame in chunks[(sent // chunk) % len(chunks)]:
            try:
                send(frame)
            except OSError:
                failed += 1
        sent += chunk
        # Sleep, never spin, when ahead: on two vCPUs the kernel tends to wake the responder on the sender's CPU,
        # and a spinning sender would starve it (the benchmark would measure the sender, not the responder).
        ahead = start + sent / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
    elapsed = time.perf_counter() - start
    time.sleep(0.3)
    replies, _ = _statistics(rx)
    return {"sent": sent - failed, "send_failed": failed, "seconds": elapsed, "replies": replies}


def minimal_responder(ifname: str, target: str) -> None:
    """The lab-notes control: a blocking Python loop answering ARP requests for ``target``, nothing else.

    Runs until killed. It shows what the announcer's asyncio loop, table lookups and counters cost on top.
    """
    mac = parse_mac(open(f"/sys/class/net/{ifname}/address").read().strip())  # noqa: PTH123, SIM115
    wanted = ipaddress.IPv4Address(target).packed
    sock = _open(ifname, ETH_P_ARP, bpf.ARP_REQUESTS, 4 << 20)
    header = b"\x08\x06\x00\x01\x08\x00\x06\x04\x00\x02"
    print("ready", flush=True)
    while True:
        frame = sock.recv(2048)
        if frame[38:42] == wanted:
            sender = frame[22:28]
            sock.send(sender + mac + header + mac + wanted + sender + frame[28:32] + bytes(18))


def _helper_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.bench.bench_l2")
    parser.add_argument("mode", choices=["latency", "flood", "minimal"])
    parser.add_argument("--ifname", default="eth0")
    parser.add_argument("--target", required=True)
    parser.add_argument("--peer-mac", default="")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.002)
    parser.add_argument("--rate", type=float, default=100_000)
    args = parser.parse_args(argv)
    if args.mode == "minimal":
        minimal_responder(args.ifname, args.target)
    elif args.mode == "latency":
        print(json.dumps(probe_latency(args.ifname, args.target, args.peer_mac, args.count, args.interval)))
    else:
        print(json.dumps(flood(args.ifname, args.target, args.peer_mac, args.rate, args.count)))
    return 0


# --------------------------------------------------------------------------------------------------------------
# The benchmark.


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _arping(topo: Any, target: str, count: int) -> list[float]:
    argv = ["arping", "-I", "eth0", "-c", str(count), "-W", "0.01", target]
    out = topo.run("client", *argv, check=False, timeout=60)
    samples = []
    for value, unit in re.findall(r"time=([\d.]+) (usec|msec)", out.stdout):
        samples.append(float(value) * (1000 if unit == "msec" else 1))
    return samples


def _helper(topo: Any, *args: str, pin: list[str] | None = None) -> Any:
    out = topo.run("client", *(pin or []), sys.executable, "-m", "hack.bench.bench_l2", *args, timeout=120)
    return json.loads(out.stdout)


def _latency_rows(label: str, columns: dict[str, list[float]], *, goal: float | None, note: str) -> list[Result]:
    rows = []
    for name, samples in columns.items():
        if not samples:
            rows.append(Result(f"{label} {name}: no replies", 0, "replies", note=note))
            continue
        p99_goal = ("<=", goal) if goal is not None and name == "ironlb" else None
        rows.append(Result(f"{label} {name} p50", statistics.median(samples), "us", note=f"n={len(samples)} {note}"))
        rows.append(Result(f"{label} {name} p99", _percentile(samples, 0.99), "us", goal=p99_goal))
    return rows


def _flood_cpus() -> tuple[int, int] | None:
    """(node CPU, client CPU) for the flood, or None with fewer than two CPUs.

    Unpinned, on two vCPUs the kernel tends to wake the responder on the CPU where the sender runs (wake-affine)
    and the flood then measures that placement more than the responder. Latency runs stay unpinned: there, sharing
    the waker's CPU is the cheap case a real node may or may not get.
    """
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[-1], cpus[-2]) if len(cpus) >= 2 and shutil.which("taskset") else None


def run() -> list[Result]:
    from hack.lab.netns import Topology

    results: list[Result] = []
    with Topology.standard(nodes=1, router=False, client=True) as topo:
        node_mac = topo.hosts["node1"].mac
        # The control first, alone in node1: every broadcast request wakes every ARP socket of the namespace, so a
        # responder running beside another would pay for both wake-ups.
        minimal = topo.popen(
            "node1",
            [sys.executable, "-m", "hack.bench.bench_l2", "minimal", "--target", VIP4_MINIMAL],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert minimal.stdout is not None
        minimal.stdout.readline()
        arping: dict[str, list[float]] = {"ironlb": [], "kernel (ironlb phase)": [], "minimal Python": [], "kernel": []}
        for _ in range(5):  # interleaved with the kernel, so load from elsewhere hits both columns alike
            arping["minimal Python"] += _arping(topo, VIP4_MINIMAL, 100)
            arping["kernel"] += _arping(topo, "192.0.2.11", 100)
        topo.stop(minimal)

        process = L2Process(lambda argv: topo.popen("node1", argv, **popen_kwargs()))
        process.own({VIP4: None, VIP6: None}, takeover="immediate")
        process.wait_for("announced", ip=VIP4)
        process.wait_for("announced", ip=VIP6)
        topo.run("client", "arping", "-I", "eth0", "-c", "3", "-W", "0.01", VIP4, check=False)  # warm up
        for _ in range(5):
            arping["ironlb"] += _arping(topo, VIP4, 100)
            arping["kernel (ironlb phase)"] += _arping(topo, "192.0.2.11", 100)
        results += _latency_rows("ARP arping", arping, goal=250.0, note="arping -W 0.01 (10 ms apart)")
        common = ["--peer-mac", node_mac, "--count", "500"]
        for label, ours, kernel in (("ARP", VIP4, "192.0.2.11"), ("NDP", VIP6, "2001:db8::11")):
            prober = {
                "ironlb": _helper(topo, "latency", "--target", ours, *common),
                "kernel": _helper(topo, "latency", "--target", kernel, *common),
            }
            results += _latency_rows(f"{label} prober", prober, goal=None, note="Python raw-socket prober, 2 ms apart")

        cpus = _flood_cpus()
        pin: list[str] = []
        pin_note = "unpinned"
        if cpus is not None:
            os.sched_setaffinity(process.proc.pid, {cpus[0]})  # ``ip netns exec`` execs: this is the announcer
            pin = ["taskset", "-c", str(cpus[1])]
            pin_note = f"announcer on cpu{cpus[0]}, flood sender on cpu{cpus[1]}"
        best = 0.0
        notes = []
        sender_best = 0.0
        for rate in (50_000, 100_000, 110_000, 125_000, 150_000, 200_000):
            before = process.request("stats")
            count = str(max(rate, 50_000))
            got = _helper(
                topo, "flood", "--target", VIP4, "--peer-mac", node_mac, "--rate", str(rate), "--count", count, pin=pin
            )
            after = process.request("stats")
            achieved = got["sent"] / got["seconds"]
            sender_best = max(sender_best, achieved)
            missed = got["sent"] - got["replies"]
            overflow = after["socket_drops"] - before["socket_drops"]
            notes.append(f"{rate // 1000}k: sent {got['sent']} at {achieved / 1000:.0f}k/s, missed {missed}"
                         f" (responder buffer overflows {overflow})")  # fmt: skip
            if missed == 0:
                best = max(best, achieved)
        results.append(
            Result("ARP answered/s, none missed", best, "req/s", goal=(">=", 100_000), note="; ".join(notes))
        )
        results.append(Result("flood sender achieved (max)", sender_best, "req/s", note=pin_note))
        process.stop()
    return results


BENCHMARKS = [
    Benchmark(
        "l2",
        run=run,
        description="ARP/NDP answer latency and answered-requests rate vs the kernel, in namespaces",
        needs_root=True,
        needs_programs=("ip", "arping"),
    )
]


if __name__ == "__main__":
    raise SystemExit(_helper_main(sys.argv[1:]))
