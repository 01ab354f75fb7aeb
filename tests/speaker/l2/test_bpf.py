"""The classic BPF filters: run on a small interpreter of the kernel's semantics, then attached to real sockets."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from hack.lab.netns import Topology
from speaker.l2 import bpf

CLIENT = "02:00:00:00:00:64"
NODE = "02:00:00:00:00:01"
FRAMES = {
    "arp-request": bytes(
        Ether(dst="ff:ff:ff:ff:ff:ff", src=CLIENT) / ARP(op=1, psrc="192.0.2.100", pdst="198.51.100.5")
    ),
    "arp-reply": bytes(Ether(dst=NODE, src=CLIENT) / ARP(op=2, psrc="198.51.100.5", pdst="192.0.2.100")),
    "ns": bytes(
        Ether(dst="33:33:ff:00:00:05", src=CLIENT)
        / IPv6(src="2001:db8::100", dst="ff02::1:ff00:5", hlim=255)
        / ICMPv6ND_NS(tgt="2001:db8:100::5")
        / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT)
    ),
    "na": bytes(
        Ether(src=CLIENT) / IPv6(src="2001:db8::100", dst="ff02::1", hlim=255) / ICMPv6ND_NA(tgt="2001:db8::1")
    ),
    "echo-v6": bytes(Ether(dst=NODE, src=CLIENT) / IPv6(src="2001:db8::100", dst="2001:db8::11") / ICMPv6EchoRequest()),
    "udp-v4": bytes(Ether(dst=NODE, src=CLIENT) / IP(src="192.0.2.100", dst="192.0.2.11") / UDP(dport=7946)),
    "udp-v6-byte-54-is-135": bytes(
        Ether(dst=NODE, src=CLIENT) / IPv6(src="2001:db8::100", dst="2001:db8::11") / UDP(sport=135 * 256, dport=9)
    ),
}


def interpret(program: bytes, frame: bytes) -> int:
    """Run a classic BPF program the way the kernel does for the opcodes we emit; returns the accepted length."""
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    acc = 0
    pc = 0
    while True:
        code, jt, jf, k = (int(v) for v in insns[pc])
        if code in (bpf.BPF_LD_H_ABS, bpf.BPF_LD_B_ABS, 0x20):
            size = {bpf.BPF_LD_H_ABS: 2, bpf.BPF_LD_B_ABS: 1, 0x20: 4}[code]
            if k + size > len(frame):
                return 0  # the kernel drops the packet on an out-of-bounds load
            acc = int.from_bytes(frame[k : k + size], "big")
        elif code == bpf.BPF_JEQ_K:
            pc += jt if acc == k else jf
        elif code == bpf.BPF_RET_K:
            return min(k, len(frame))
        else:
            raise AssertionError(f"opcode {code:#x} not interpreted")
        pc += 1


@pytest.mark.parametrize(
    ("program", "passes"),
    [
        pytest.param(bpf.ARP_REQUESTS, {"arp-request"}, id="arp-requests-only"),
        pytest.param(bpf.NEIGHBOR_SOLICITATIONS, {"ns"}, id="neighbor-solicitations-only"),
        pytest.param(bpf.NEIGHBOR_CLAIMS, {"arp-request", "arp-reply", "ns", "na"}, id="claims-any-arp-ns-na"),
    ],
)
def test_programs_pass_exactly_what_they_say(program: bytes, passes: set[str]) -> None:
    accepted = {name for name, frame in FRAMES.items() if interpret(program, frame)}
    assert accepted == passes
    assert all(interpret(program, frame[:n]) == 0 for frame in FRAMES.values() for n in range(14))


def test_assembler_resolves_labels_and_rejects_bad_jumps() -> None:
    program = bpf.assemble([bpf.load_half(12), bpf.jump_if(1, true="yes"), bpf.ret(0), bpf.ret(9, label="yes")])
    assert struct.unpack_from("=HBBI", program, 8) == (bpf.BPF_JEQ_K, 1, 0, 1)
    with pytest.raises(ValueError, match="unknown label"):
        bpf.assemble([bpf.jump_if(1, true="nowhere"), bpf.ret(0)])
    with pytest.raises(ValueError, match="forward"):
        bpf.assemble([bpf.ret(0, label="back"), bpf.jump_if(1, true="back"), bpf.ret(0)])


@pytest.mark.netns
def test_kernel_applies_the_filters(topology: Callable[..., Topology]) -> None:
    topo = topology(nodes=1, router=False, client=True)
    received: dict[str, set[str]] = {}
    with topo.entered("node1"):
        sockets = {}
        for name, program in (("arp", bpf.ARP_REQUESTS), ("ns", bpf.NEIGHBOR_SOLICITATIONS)):
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            bpf.attach(sock, program)
            sock.bind(("eth0", 0x0003))  # ETH_P_ALL: only the filter decides
            sock.setblocking(False)
            sockets[name] = sock
    with topo.entered("client"):
        sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        sender.bind(("eth0", 0))
    try:
        # Give every frame a recognisable source MAC (its index), then see which ones each socket got.
        for index, frame in enumerate(FRAMES.values()):
            sender.send(frame.replace(bytes.fromhex("020000000064"), bytes.fromhex("02000000a0") + bytes([index]), 1))
        time.sleep(0.2)
        for key, sock in sockets.items():
            got: set[str] = set()
            while True:
                try:
                    data = sock.recv(2048)
                except BlockingIOError:
                    break
                got |= {n for i, n in enumerate(FRAMES) if data[6:12] == bytes.fromhex("02000000a0") + bytes([i])}
            received[key] = got
    finally:
        sender.close()
        for sock in sockets.values():
            sock.close()
    assert received == {"arp": {"arp-request"}, "ns": {"ns"}}
