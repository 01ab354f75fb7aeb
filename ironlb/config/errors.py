"""Configuration errors: one per problem, each a sentence a user can act on.

Every error names the kind, the object, the field and what would be valid, e.g.::

    IPAddressPool "first-pool": spec.addresses[0] "10.0.0.0/33" is neither a CIDR nor a range; write a CIDR
    such as 192.0.2.0/24 or a range such as 192.0.2.10-192.0.2.20.

``transient`` marks errors MetalLB only reports at run time (a BFD profile, Secret or community alias that does
not exist *yet*): the webhook-style ``ironlbctl validate`` can choose to report them differently.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigError:
    kind: str
    name: str
    field: str
    message: str
    transient: bool = False

    def __str__(self) -> str:
        return self.message


__all__ = ["ConfigError"]
