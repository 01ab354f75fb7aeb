"""Classic BPF socket filters, assembled in Python, so the responder only wakes for frames it may answer.

A packet socket bound to ETH_P_ARP sees every ARP frame on the interface - replies and other hosts' announcements
included - and one bound to ETH_P_IPV6 sees all IPv6 traffic, of which neighbour solicitations are a tiny part.
Waking Python for each costs microseconds; a classic BPF program attached with ``SO_ATTACH_FILTER`` runs in the
kernel (JIT-compiled) and queues only what passes. The programs:

- :data:`ARP_REQUESTS`: EtherType 0x0806 and ARP operation 1.
- :data:`NEIGHBOR_SOLICITATIONS`: EtherType 0x86dd, IPv6 next header 58 directly after the fixed header, ICMPv6
  type 135. Solicitations behind extension headers are not passed (RFC 4861 does not use any; the responder would
  not answer them either).
- :data:`NEIGHBOR_CLAIMS`: for probing - any ARP, or ICMPv6 type 135 or 136 (see :mod:`speaker.l2.core.probe`).

The assembler is tiny: instructions with symbolic jump targets, resolved to the relative offsets ``struct
sock_filter`` wants (``code:u16, jt:u8, jf:u8, k:u32``, native byte order).
"""

from __future__ import annotations

import ctypes
import socket
import struct
from dataclasses import dataclass

SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_LOCK_FILTER = 44

# Opcodes (linux/filter.h, linux/bpf_common.h).
BPF_LD_H_ABS = 0x28
BPF_LD_B_ABS = 0x30
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06

#: Bytes of a passing frame to queue: more than any ARP or neighbour-discovery frame (tcpdump's default).
SNAPLEN = 0x40000
_INSN = struct.Struct("=HBBI")


@dataclass(frozen=True, slots=True)
class Insn:
    """One instruction; ``jt``/``jf`` name labels (``None`` = the next instruction)."""

    code: int
    k: int
    jt: str | None = None
    jf: str | None = None
    label: str | None = None


def load_half(offset: int, *, label: str | None = None) -> Insn:
    """A = the 16-bit big-endian value at ``offset``."""
    return Insn(BPF_LD_H_ABS, offset, label=label)


def load_byte(offset: int, *, label: str | None = None) -> Insn:
    """A = the byte at ``offset``."""
    return Insn(BPF_LD_B_ABS, offset, label=label)


def jump_if(value: int, *, true: str | None = None, false: str | None = None, label: str | None = None) -> Insn:
    """If A == ``value`` go to ``true`` else to ``false`` (None = fall through)."""
    return Insn(BPF_JEQ_K, value, true, false, label)


def ret(length: int, *, label: str | None = None) -> Insn:
    """Accept ``length`` bytes of the frame (0 = drop it)."""
    return Insn(BPF_RET_K, length, label=label)


def assemble(program: list[Insn]) -> bytes:
    """The ``struct sock_filter`` array for ``program``.

    Raises:
        ValueError: an unknown or backward label, or a jump farther than 255 instructions.
    """
    labels = {insn.label: index for index, insn in enumerate(program) if insn.label is not None}

    def offset(target: str | None, index: int) -> int:
        if target is None:
            return 0
        if target not in labels:
            raise ValueError(f"BPF jump to unknown label {target!r}")
        distance = labels[target] - index - 1
        if not 0 <= distance <= 255:
            raise ValueError(f"BPF jump to {target!r} must go forward by at most 255 instructions, not {distance}")
        return distance

    return b"".join(
        _INSN.pack(insn.code, offset(insn.jt, i), offset(insn.jf, i), insn.k) for i, insn in enumerate(program)
    )


ARP_REQUESTS = assemble(
    [
        load_half(12),
        jump_if(0x0806, false="drop"),
        load_half(20),
        jump_if(1, false="drop"),
        ret(SNAPLEN),
        ret(0, label="drop"),
    ]
)

NEIGHBOR_SOLICITATIONS = assemble(
    [
        load_half(12),
        jump_if(0x86DD, false="drop"),
        load_byte(20),
        jump_if(58, false="drop"),
        load_byte(54),
        jump_if(135, false="drop"),
        ret(SNAPLEN),
        ret(0, label="drop"),
    ]
)

NEIGHBOR_CLAIMS = assemble(
    [
        load_half(12),
        jump_if(0x0806, true="accept"),
        jump_if(0x86DD, false="drop"),
        load_byte(20),
        jump_if(58, false="drop"),
        load_byte(54),
        jump_if(135, true="accept"),
        jump_if(136, false="drop"),
        ret(SNAPLEN, label="accept"),
        ret(0, label="drop"),
    ]
)


def attach(sock: socket.socket, program: bytes) -> None:
    """Attach ``program`` to ``sock`` (SO_ATTACH_FILTER; the kernel copies it, so the buffer may go afterwards).

    Raises:
        OSError: the kernel refused the program.
    """
    count = len(program) // _INSN.size
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("HL", count, ctypes.addressof(buffer))  # struct sock_fprog, native alignment
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


__all__ = [
    "ARP_REQUESTS",
    "NEIGHBOR_CLAIMS",
    "NEIGHBOR_SOLICITATIONS",
    "SNAPLEN",
    "Insn",
    "assemble",
    "attach",
    "jump_if",
    "load_byte",
    "load_half",
    "ret",
]
