"""BFDProfile objects (and the legacy ConfigMap's ``bfd-profiles``) -> :class:`BFDProfile` with defaults applied.

Theory of operation
-------------------
A profile is a named set of BFD session parameters (RFC 5880) that BGPPeers reference by ``bfdProfile``. MetalLB
passes them to FRR, whose defaults apply when a field is unset; ironlb runs BFD itself, so the defaults are
applied here, once: 300 ms receive and transmit intervals (RFC 5880 section 6.8.1 leaves them to the
implementation; FRR uses 300), detect multiplier 3, echo interval 50 ms, echo and passive mode off, minimum TTL
254 (RFC 5881 section 5 / RFC 5883: multihop sessions check the TTL instead of requiring 255).

Ranges are MetalLB's CRD bounds: intervals 10-60000 ms, multiplier 2-255, minimum TTL 1-254. MetalLB's native
mode rejects every BFDProfile ("bfd profiles section set"); ironlb accepts them because it implements BFD.
"""

from __future__ import annotations

from typing import Any

from ironlb.config.fields import Fields
from ironlb.config.model import BFDProfile

#: (model attribute, CR field, legacy field, lowest, highest)
_NUMBERS: tuple[tuple[str, str, str, int, int], ...] = (
    ("receive_interval_ms", "receiveInterval", "receive-interval", 10, 60000),
    ("transmit_interval_ms", "transmitInterval", "transmit-interval", 10, 60000),
    ("detect_multiplier", "detectMultiplier", "detect-multiplier", 2, 255),
    ("echo_interval_ms", "echoInterval", "echo-interval", 10, 60000),
    ("minimum_ttl", "minimumTtl", "minimum-ttl", 1, 254),
)
#: (model attribute, CR field, legacy field)
_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("echo_mode", "echoMode", "echo-mode"),
    ("passive_mode", "passiveMode", "passive-mode"),
)

CR_FIELDS: tuple[str, ...] = tuple(n[1] for n in _NUMBERS) + tuple(f[1] for f in _FLAGS)
LEGACY_FIELDS: tuple[str, ...] = ("name", *(n[2] for n in _NUMBERS), *(f[2] for f in _FLAGS))
#: legacy field -> CR field, for ``ironlbctl convert``.
LEGACY_TO_CR: dict[str, str] = {n[2]: n[1] for n in _NUMBERS} | {f[2]: f[1] for f in _FLAGS}


def read_bfd_profile(name: str, spec: Fields, *, legacy: bool = False) -> BFDProfile:
    """Read one profile's fields (CR spelling, or the legacy kebab-case spelling) into a defaulted model."""
    values: dict[str, Any] = {}
    for attr, cr_key, legacy_key, low, high in _NUMBERS:
        key = legacy_key if legacy else cr_key
        unit = "" if attr in ("detect_multiplier", "minimum_ttl") else "milliseconds"
        value = spec.integer(key, low, high, unit=unit)
        if value is not None:
            values[attr] = value
    for attr, cr_key, legacy_key in _FLAGS:
        flag = spec.boolean(legacy_key if legacy else cr_key)
        if flag is not None:
            values[attr] = flag
    return BFDProfile(name=name, **values)


__all__ = ["CR_FIELDS", "LEGACY_FIELDS", "LEGACY_TO_CR", "read_bfd_profile"]
