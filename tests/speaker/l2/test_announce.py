"""The unsolicited-announcement schedule: rounds, spacing, restarts, refresh, interfaces, and the frames' forms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from speaker.l2.core.announce import (
    AnnounceConfig,
    Announcement,
    AnnounceSchedule,
    Outgoing,
    Purpose,
    announcement_frames,
    parse_announcement,
)
from speaker.l2.core.ethernet import format_mac
from tests.speaker.l2.helpers import ETH0, ETH1, NODE_MAC, VIP4, VIP6

INTERFACES = {"eth0": ETH0, "eth1": ETH1}


def run_until(schedule: AnnounceSchedule, end: float) -> list[tuple[float, Outgoing]]:
    """Fire every deadline up to ``end``, as an adapter would; returns (time, frame) pairs."""
    sent: list[tuple[float, Outgoing]] = []
    while (deadline := schedule.next_deadline()) is not None and deadline <= end:
        sent.extend((deadline, out) for out in schedule.handle_timer(deadline))
    return sent


def test_metallb_cadence_five_rounds_within_five_seconds() -> None:
    schedule = AnnounceSchedule()
    schedule.set_interfaces({"eth0": ETH0})
    schedule.takeover(VIP4, 100.0)
    sent = run_until(schedule, 200.0)
    times = sorted({t for t, _ in sent})
    assert times == pytest.approx([100.0, 101.1, 102.2, 103.3, 104.4])
    # Each IPv4 round is the request form and the reply form.
    assert len(sent) == 10
    assert all(out.purpose is Purpose.ANNOUNCEMENT and out.ip == VIP4 and out.ifname == "eth0" for _, out in sent)
    assert schedule.next_deadline() is None and schedule.pending(VIP4) == {}


def test_first_round_is_due_at_once() -> None:
    schedule = AnnounceSchedule()
    schedule.set_interfaces(INTERFACES)
    schedule.takeover(VIP6, 7.0)
    assert schedule.next_deadline() == 7.0
    first = schedule.handle_timer(7.0)
    assert sorted(out.ifname for out in first) == ["eth0", "eth1"]  # one NA per interface
    assert schedule.pending(VIP6) == {"eth0": 4, "eth1": 4}


def test_retrigger_restarts_the_rounds() -> None:
    schedule = AnnounceSchedule(AnnounceConfig(rounds=3, interval=1.0))
    schedule.set_interfaces({"eth0": ETH0})
    schedule.takeover(VIP4, 0.0)
    schedule.handle_timer(0.0)
    schedule.handle_timer(1.0)
    schedule.takeover(VIP4, 1.5)  # MetalLB: until 5 s after the *last* trigger
    times = sorted({t for t, _ in run_until(schedule, 100.0)})
    assert times == pytest.approx([1.5, 2.5, 3.5])


def test_withdraw_stops_and_only_where_asked() -> None:
    schedule = AnnounceSchedule()
    schedule.set_interfaces(INTERFACES)
    schedule.takeover(VIP4, 0.0)
    schedule.takeover(VIP6, 0.0)
    schedule.withdraw(VIP4, interfaces=["eth1"])
    schedule.withdraw(VIP6)
    sent = run_until(schedule, 100.0)
    assert {(out.ip, out.ifname) for _, out in sent} == {(VIP4, "eth0")}


def test_refresh_keeps_announcing_after_the_burst() -> None:
    schedule = AnnounceSchedule(AnnounceConfig(rounds=2, interval=1.0, refresh=30.0))
    schedule.set_interfaces({"eth0": ETH0})
    schedule.takeover(VIP6, 0.0)
    times = sorted({t for t, _ in run_until(schedule, 100.0)})
    assert times == pytest.approx([0.0, 1.0, 31.0, 61.0, 91.0])
    assert schedule.pending(VIP6) == {"eth0": 0}


def test_interface_gone_drops_its_rounds_and_unknown_names_are_ignored() -> None:
    schedule = AnnounceSchedule()
    schedule.set_interfaces(INTERFACES)
    schedule.takeover(VIP4, 0.0, interfaces=["eth1", "eth7"])
    schedule.set_interfaces({"eth0": ETH0})
    assert run_until(schedule, 100.0) == []


def test_a_stalled_timer_does_not_fire_missed_rounds_back_to_back() -> None:
    schedule = AnnounceSchedule(AnnounceConfig(rounds=3, interval=1.0))
    schedule.set_interfaces({"eth0": ETH0})
    schedule.takeover(VIP6, 0.0)
    schedule.handle_timer(0.0)
    assert len(schedule.handle_timer(10.0)) == 1  # one round, not the two that were missed
    assert schedule.next_deadline() == pytest.approx(11.0)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param({"rounds": 0}, "rounds is 0", id="zero-rounds"),
        pytest.param({"interval": 0.0}, "interval is 0.0", id="zero-interval"),
        pytest.param({"interval": float("nan")}, "interval is nan", id="nan-interval"),
        pytest.param({"refresh": -1.0}, "refresh is -1.0", id="negative-refresh"),
    ],
)
def test_config_errors_are_sentences(config: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnnounceConfig(**config)  # type: ignore[arg-type]


def test_ipv4_round_is_request_and_reply_form_that_linux_accepts_within_locktime() -> None:
    request, reply = (Ether(f) for f in announcement_frames(VIP4, ETH0))
    mac = format_mac(NODE_MAC)
    assert (request.dst, request[ARP].op, request[ARP].psrc, request[ARP].pdst) == (
        "ff:ff:ff:ff:ff:ff",
        1,
        str(VIP4),
        str(VIP4),
    )
    assert request[ARP].hwdst == "00:00:00:00:00:00"
    assert (reply.dst, reply[ARP].op, reply[ARP].psrc, reply[ARP].pdst) == (
        "ff:ff:ff:ff:ff:ff",
        2,
        str(VIP4),
        str(VIP4),
    )
    assert reply[ARP].hwsrc == reply[ARP].hwdst == mac


def test_ipv6_round_is_an_unsolicited_override_advertisement() -> None:
    (frame,) = announcement_frames(VIP6, ETH0)
    packet = Ether(frame)
    na = packet[ICMPv6ND_NA]
    assert (packet[IPv6].dst, packet[IPv6].src, packet[IPv6].hlim) == ("ff02::1", str(VIP6), 255)
    assert (na.R, na.S, na.O, na.tgt) == (0, 0, 1, str(VIP6))
    assert packet[ICMPv6NDOptDstLLAddr].lladdr == format_mac(NODE_MAC)


@given(
    st.lists(
        st.tuples(st.sampled_from(["takeover", "withdraw"]), st.sampled_from([VIP4, VIP6]), st.floats(0, 20)),
        max_size=12,
    )
)
def test_rounds_never_exceed_the_configured_count_per_trigger(script: list[tuple[str, object, float]]) -> None:
    schedule = AnnounceSchedule(AnnounceConfig(rounds=3, interval=1.0))
    schedule.set_interfaces({"eth0": ETH0})
    now = 0.0
    takeovers = 0
    sent = 0
    for op, ip, step in script:
        now += step
        sent += sum(1 for _ in run_until(schedule, now))
        if op == "takeover":
            schedule.takeover(ip, now)  # type: ignore[arg-type]
            takeovers += 1
        else:
            schedule.withdraw(ip)  # type: ignore[arg-type]
    sent += len(run_until(schedule, now + 100))
    assert sent <= takeovers * 3 * 2  # at most 3 rounds of at most 2 frames per trigger
    assert schedule.next_deadline() is None


# ----- recognising another node's announcement (a releasing owner watches for the next owner's) --------------------
OTHER = "02:00:00:00:00:0c"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        pytest.param(
            bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=OTHER)
                  / ARP(op=1, hwsrc=OTHER, psrc=str(VIP4), hwdst="00:00:00:00:00:00", pdst=str(VIP4))),
            (VIP4.packed, OTHER), id="gratuitous-arp-request-form",
        ),
        pytest.param(
            bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=OTHER)
                  / ARP(op=2, hwsrc=OTHER, psrc=str(VIP4), hwdst=OTHER, pdst=str(VIP4))),
            (VIP4.packed, OTHER), id="gratuitous-arp-reply-form",
        ),
        pytest.param(
            bytes(Ether(dst="33:33:00:00:00:01", src=OTHER) / IPv6(src=str(VIP6), dst="ff02::1", hlim=255)
                  / ICMPv6ND_NA(tgt=str(VIP6), O=1, S=0) / ICMPv6NDOptDstLLAddr(lladdr=OTHER)),
            (VIP6.packed, OTHER), id="unsolicited-neighbor-advertisement",
        ),
        pytest.param(
            bytes(Ether(dst="02:00:00:00:00:64", src=OTHER)
                  / ARP(op=2, hwsrc=OTHER, psrc=str(VIP4), hwdst="02:00:00:00:00:64", pdst="192.0.2.100")),
            None, id="a-reply-to-a-client-is-no-announcement",
        ),
        pytest.param(
            bytes(Ether(dst="02:00:00:00:00:64", src=OTHER) / IPv6(src=str(VIP6), dst="2001:db8::100", hlim=255)
                  / ICMPv6ND_NA(tgt=str(VIP6), O=1, S=1) / ICMPv6NDOptDstLLAddr(lladdr=OTHER)),
            None, id="a-solicited-advertisement-is-no-announcement",
        ),
        pytest.param(
            bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=OTHER) / ARP(op=1, hwsrc=OTHER, psrc="0.0.0.0", pdst=str(VIP4))),
            None, id="a-probe-is-no-announcement",
        ),
    ],
)  # fmt: skip
def test_parse_announcement(frame: bytes, expected: tuple[bytes, str] | None) -> None:
    found = parse_announcement(frame)
    assert (None if found is None else (found.address, format_mac(found.mac))) == expected


def test_our_own_rounds_are_announcements() -> None:
    for ip in (VIP4, VIP6):
        for frame in announcement_frames(ip, ETH0):
            assert parse_announcement(frame) == Announcement(ip.packed, NODE_MAC)


@given(st.binary(max_size=100))
def test_fuzz_parse_announcement_never_raises(data: bytes) -> None:
    valid = announcement_frames(VIP6, ETH0)[0]
    for prefix in (b"", b"\xff" * 12 + b"\x08\x06", b"\xff" * 12 + b"\x86\xdd", valid[:54]):
        candidate = prefix + data
        for chunk in (candidate, *(candidate[:n] for n in range(len(candidate)))):
            found = parse_announcement(chunk)
            assert found is None or len(found.mac) == 6
