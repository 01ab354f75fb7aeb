"""BGPPeer objects, v1beta2 and the deprecated v1beta1, -> :class:`BGPPeer` drafts.

Theory of operation
-------------------
v1beta2 is MetalLB's storage version; v1beta1 is still served and converted by MetalLB's webhook. Both are read
by one function: v1beta1 is the v1beta2 field set minus the newer fields (which are reported with a pointer to
v1beta2), with ``peerPort: 0`` meaning the default. One difference from MetalLB is deliberate: MetalLB's
conversion turns a v1beta1 peer *without* timers into ``holdTime: 0s`` (keepalives off), an artefact of Go zero
values; ironlb keeps "absent" as "not configured" (90 s / 30 s).

Rules (MetalLB ``peerFromCR``/``parseTimers`` and the CRD):

* ``myASN`` is required and not 0 ("missing local ASN"); exactly one of ``peerASN``/``dynamicASN``; ``localASN``
  1 to 2^32-1; exactly one of ``peerAddress``/``interface``; ``peerPort`` 1-16384 (default 179).
* Timers follow RFC 4271 section 4.2: a hold time is 0 (no keepalives) or at least 3 s ("invalid hold time");
  the keepalive interval may not exceed the hold time; ``connectTime`` is 1-65535 whole seconds (CEL rule).
* ``ebgpMultiHop`` makes no sense on an iBGP session and is rejected there.
* ``password`` and ``passwordSecret`` are exclusive; the Secret must be ``kubernetes.io/basic-auth`` in the
  MetalLB namespace with key ``password`` (base64 ``data`` or ``stringData``). A Secret that does not exist yet
  is a transient error, as in MetalLB.
* ``disableMP`` is accepted with MetalLB's deprecation warning.

Everything MetalLB's *native* mode rejects (dynamicASN, localASN, interface, vrf, keepaliveTime, connectTime,
graceful restart, BFD, dualStackAddressFamily) is accepted and carried: ironlb's speaker implements it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from typing import Any

from ironlb.api.addresses import IPAddress, parse_ip
from ironlb.config.drafts import PeerDraft
from ironlb.config.durations import SECOND, SYNTAX_HINT, DurationError, format_duration, parse_duration
from ironlb.config.fields import Fields, interface_name_error
from ironlb.config.model import DEFAULT_PEER_PORT, BGPPeer, DynamicASN, SecretRef
from ironlb.config.report import q, show

V1BETA1_FIELDS = (
    "myASN",
    "peerASN",
    "peerAddress",
    "sourceAddress",
    "peerPort",
    "holdTime",
    "keepaliveTime",
    "routerID",
    "nodeSelectors",
    "password",
    "bfdProfile",
    "ebgpMultiHop",
)
V1BETA2_FIELDS = (
    *V1BETA1_FIELDS,
    "localASN",
    "dynamicASN",
    "interface",
    "connectTime",
    "passwordSecret",
    "enableGracefulRestart",
    "vrf",
    "disableMP",
    "dualStackAddressFamily",
)
SECRET_TYPE_BASIC_AUTH = "kubernetes.io/basic-auth"
DISABLE_MP_WARNING = "disable mp is deprecated and has no effect since it's the default behavior now"
_U32_MAX = 0xFFFF_FFFF
_MAX_PORT = 16384
_MIN_HOLD_SECONDS = 3
_ASN_HINT = "write an AS number from 1 to 4294967295"


def read_peer(
    name: str,
    spec: Fields,
    *,
    v1beta1: bool,
    secrets: Mapping[tuple[str, str], Mapping[str, Any]],
    namespace: str,
    resolve_secrets: bool = True,
) -> PeerDraft:
    """One BGPPeer spec -> a draft; the BFD profile reference is checked later, against every profile."""
    my_asn = _my_asn(spec)
    peer_asn = spec.integer("peerASN", 0, _U32_MAX) or None
    dynamic = None if v1beta1 else _dynamic_asn(spec)
    raw_peer_asn = spec.get("peerASN")
    if (raw_peer_asn is None or (type(raw_peer_asn) is int and raw_peer_asn == 0)) and not spec.has("dynamicASN"):
        state = "is 0" if raw_peer_asn is not None else "is missing"
        spec.error("peerASN", f"{state}: missing peer ASN and dynamicASN; {_ASN_HINT}, or set dynamicASN")
    if peer_asn is not None and dynamic is not None:
        spec.error("peerASN", "and spec.dynamicASN are both set: both peer ASN and dynamicASN specified; keep one")
    local_asn = None if v1beta1 else spec.integer("localASN", 1, _U32_MAX)

    address, interface = _endpoint(spec, v1beta1=v1beta1)
    source = read_address(spec, "sourceAddress", "invalid source IP")
    if source is not None and address is not None and source.version != address.version:
        spec.error("sourceAddress", f"{source} is not of the same IP family as spec.peerAddress {address}")
    router_id = read_router_id(spec)
    port = spec.integer("peerPort", 0 if v1beta1 else 1, _MAX_PORT, hint="179 is BGP's port")
    hold, keepalive = _timers(spec)
    connect = None if v1beta1 else _connect_time(spec)

    password = spec.string("password") or None
    secret_ref = None if v1beta1 else _secret_ref(spec, namespace)
    if password is not None and secret_ref is not None:
        spec.error(
            "password",
            f"and spec.passwordSecret are both set: can not have both password and secret ref set in peer config "
            f"{q(namespace)}/{q(name)}; keep one",
        )
    elif secret_ref is not None and resolve_secrets:
        password = _password_from_secret(spec, secret_ref, secrets)

    multihop = bool(spec.boolean("ebgpMultiHop"))
    local = local_asn if local_asn is not None else my_asn
    if multihop and (dynamic is DynamicASN.INTERNAL or (peer_asn is not None and peer_asn == local)):
        spec.error(
            "ebgpMultiHop",
            "is true on an iBGP session: invalid ebgp-multihop parameter set for an ibgp peer; remove it (iBGP "
            "peers may be several hops away without it)",
        )
    disable_mp = False if v1beta1 else bool(spec.boolean("disableMP"))
    if disable_mp:
        spec.report.warn(f"{spec.where.heading}: {spec.sub('disableMP')}: {DISABLE_MP_WARNING}")
    vrf = None if v1beta1 else spec.string("vrf")
    bfd_profile = spec.string("bfdProfile") or None
    peer = BGPPeer(
        name=name,
        my_asn=my_asn or 0,
        peer_asn=peer_asn,
        dynamic_asn=dynamic,
        local_asn=local_asn,
        peer_address=address,
        interface=interface,
        source_address=source,
        peer_port=port or DEFAULT_PEER_PORT,
        hold_time=hold,
        keepalive_time=keepalive,
        connect_time=connect,
        router_id=router_id,
        node_selectors=spec.selectors("nodeSelectors", label="nodeSelectors"),
        password=password,
        password_secret=secret_ref,
        bfd_profile=bfd_profile,
        enable_graceful_restart=False if v1beta1 else bool(spec.boolean("enableGracefulRestart")),
        ebgp_multihop=multihop,
        vrf=vrf or None,
        disable_mp=disable_mp,
        dual_stack_address_family=False if v1beta1 else bool(spec.boolean("dualStackAddressFamily")),
    )
    return PeerDraft(spec.where, peer, bfd_field=spec.sub("bfdProfile"))


def _my_asn(spec: Fields) -> int | None:
    if not spec.has("myASN"):
        spec.error("myASN", f"is required: missing local ASN; {_ASN_HINT} for the cluster side of the session")
        return None
    raw = spec.get("myASN")
    if type(raw) is int and raw == 0:
        spec.error("myASN", f"is 0: missing local ASN; {_ASN_HINT} for the cluster side of the session")
        return None
    return spec.integer("myASN", 1, _U32_MAX, hint="the AS number of the cluster side of the session")


def _dynamic_asn(spec: Fields) -> DynamicASN | None:
    text = spec.string("dynamicASN")
    if not text:
        return None
    try:
        return DynamicASN(text)
    except ValueError:
        spec.error("dynamicASN", f"{q(text)} is invalid: invalid dynamicASN {text}; write internal or external")
        return None


def _endpoint(spec: Fields, *, v1beta1: bool) -> tuple[IPAddress | None, str | None]:
    address = read_address(spec, "peerAddress", "invalid BGPPeer address")
    interface = None if v1beta1 else spec.string("interface") or None
    if interface is not None:
        problem = interface_name_error(interface)
        if problem:
            spec.error("interface", problem)
    has_address = bool(spec.get("peerAddress"))
    if not has_address and interface is None:
        other = "" if v1beta1 else " or spec.interface (unnumbered BGP)"
        spec.error("peerAddress", f"is missing: peer has no Address or Interface specified; write an IP address{other}")
    elif has_address and interface is not None:
        spec.error(
            "peerAddress", "and spec.interface are both set: peer has both Address and Interface specified; keep one"
        )
    return address, interface


def read_address(spec: Fields, key: str, fragment: str) -> IPAddress | None:
    text = spec.string(key)
    if not text:
        return None
    address = parse_ip(text)
    if address is None:
        spec.error(key, f"{q(text)} is not an IP address: {fragment} {q(text)}; write an address such as 192.0.2.1")
    return address


def read_router_id(spec: Fields, key: str = "routerID") -> ipaddress.IPv4Address | None:
    text = spec.string(key)
    if not text:
        return None
    address = parse_ip(text)
    if not isinstance(address, ipaddress.IPv4Address):
        spec.error(
            key,
            f"{q(text)} is not an IPv4 address: invalid router ID {q(text)}; a BGP identifier is 4 bytes, write it "
            "as an IPv4 address such as 192.0.2.11",
        )
        return None
    return address


def read_duration(spec: Fields, key: str, fragment: str) -> float | None:
    """A non-negative Go duration field in seconds, or None when absent or wrong (wrong is reported)."""
    text = spec.string(key, hint='write a Go duration such as "90s"')
    if text is None:
        return None
    try:
        nanos = parse_duration(text)
    except DurationError as exc:
        spec.error(key, f"{q(text)} {exc}: {fragment} {q(text)}; {SYNTAX_HINT}")
        return None
    if nanos < 0:
        spec.error(key, f"{q(text)} is negative: {fragment} {q(text)}; durations must not be negative")
        return None
    return nanos / SECOND


def _timers(spec: Fields) -> tuple[float | None, float | None]:
    hold = read_duration(spec, "holdTime", "invalid hold time")
    keepalive = read_duration(spec, "keepaliveTime", "invalid keepaliveTime")
    if hold is not None and hold != 0 and hold < _MIN_HOLD_SECONDS:
        spec.error(
            "holdTime",
            f"{q(spec.get('holdTime'))} is too short: invalid hold time {q(spec.get('holdTime'))}: must be 0 or >=3s "
            "(RFC 4271 section 4.2); write 0s to disable keepalives or at least 3s",
        )
        hold = None
    elif hold is not None and keepalive is not None and keepalive > hold:
        spec.error(
            "keepaliveTime",
            f"{q(spec.get('keepaliveTime'))} is longer than the hold time: invalid keepaliveTime "
            f"{q(spec.get('keepaliveTime'))}, must be lower than holdTime {q(spec.get('holdTime'))}; a common choice "
            "is a third of the hold time",
        )
    return hold, keepalive


def _connect_time(spec: Fields) -> float | None:
    seconds = read_duration(spec, "connectTime", "invalid connect time")
    if seconds is None:
        return None
    text = q(spec.get("connectTime"))
    if not 1 <= seconds <= 65535:
        spec.error(
            "connectTime",
            f"{text} is out of range: connect time should be between 1 seconds to 65535; write e.g. 10s",
        )
        return None
    if seconds != int(seconds):
        spec.error(
            "connectTime",
            f"{text} is not whole seconds: connect time should contain a whole number of seconds; write e.g. "
            f"{format_duration(float(int(seconds) or 1))}",
        )
        return None
    return seconds


def _secret_ref(spec: Fields, namespace: str) -> SecretRef | None:
    if not spec.has("passwordSecret"):
        return None
    ref = spec.mapping("passwordSecret", known=("name", "namespace"), what="a Secret reference {name, namespace}")
    name = ref.string("name")
    secret_ns = ref.string("namespace") or namespace
    if not name:
        return None  # MetalLB: an empty reference means "no Secret"
    if secret_ns != namespace:
        ref.error(
            "namespace",
            f"{q(secret_ns)} is not the MetalLB namespace; the Secret must be created in the {namespace} namespace",
        )
        return None
    return SecretRef(namespace=secret_ns, name=name)


def _password_from_secret(
    spec: Fields, ref: SecretRef, secrets: Mapping[tuple[str, str], Mapping[str, Any]]
) -> str | None:
    field_path = spec.sub("passwordSecret")
    where = spec.where
    secret = secrets.get((ref.namespace, ref.name))
    shown = f"{q(ref.namespace)}/{q(ref.name)}"
    if not isinstance(secret, Mapping):
        spec.report.add(
            where.at(
                field_path,
                f"names Secret {ref.namespace}/{ref.name}, which does not exist: secret ref not found for peer config "
                f"{q(where.name)}; create a Secret of type {SECRET_TYPE_BASIC_AUTH} with the key password",
                transient=True,
            )
        )
        return None
    if secret.get("type") != SECRET_TYPE_BASIC_AUTH:
        spec.report.add(
            where.at(
                field_path,
                f"names Secret {ref.namespace}/{ref.name} of type {show(secret.get('type'))}: secret type mismatch on "
                f"{shown}, type {q(SECRET_TYPE_BASIC_AUTH)} is expected",
            )
        )
        return None
    string_data = secret.get("stringData")
    if isinstance(string_data, Mapping) and isinstance(string_data.get("password"), str):
        password: str = string_data["password"]
        return password
    data = secret.get("data")
    encoded = data.get("password") if isinstance(data, Mapping) else None
    if encoded is None:
        spec.report.add(
            where.at(
                field_path,
                f"names Secret {ref.namespace}/{ref.name} without the key password: password not specified in the "
                f"secret {shown}; add it under data (base64) or stringData",
            )
        )
        return None
    try:
        if not isinstance(encoded, str):
            raise ValueError("not a string")
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        spec.report.add(
            where.at(
                field_path,
                f"names Secret {ref.namespace}/{ref.name} whose data.password is not base64 of UTF-8 text; encode "
                "it with base64, or put the plain text under stringData",
            )
        )
        return None


__all__ = [
    "DISABLE_MP_WARNING",
    "SECRET_TYPE_BASIC_AUTH",
    "V1BETA1_FIELDS",
    "V1BETA2_FIELDS",
    "read_address",
    "read_duration",
    "read_peer",
    "read_router_id",
]
