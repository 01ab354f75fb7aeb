"""The one BGP error type, its RFC 7606 action, the drop reasons, and the one mapping from error to NOTIFICATION.

Theory of operation
-------------------
Every problem the codec or the session finds with what the peer sent is a :class:`BgpError`: the NOTIFICATION
(code, subcode, data) that RFC 4271 section 6 prescribes for it, plus the *action* RFC 7606 section 2 assigns.
The actions are ordered by severity, so that when one UPDATE has several problems the worst one wins
(:func:`strongest`, after gobgp's ``ErrorHandling``/``Stronger``):

=====================  ==========================================================================================
``DISCARD``            "attribute discard": drop the attribute, keep processing the UPDATE (RFC 7606 section 2).
``WITHDRAW``           "treat-as-withdraw": the UPDATE's routes count as withdrawn; the session stays up.
``AFI_SAFI_DISABLE``   RFC 4760 section 7: ignore the routes of that family for the rest of the session.
``RESET``              "session reset": send the NOTIFICATION and close the connection (RFC 4271 section 6).
=====================  ==========================================================================================

Only ``RESET`` errors propagate as exceptions out of the decoders; the milder ones are attached to the decoded
UPDATE (``Update.error``) because the message is still usable. :func:`to_notification` is the *only* place where
an error becomes wire bytes (holo's ``From<DecodeError> for NotificationMsg``); the session calls it from one
place, so no adapter ever sees a parser exception.

:class:`DropReason` names every input we ignore on purpose (style anchor 7); the adapter counts them in a metric
labelled ``reason`` and logs ``reason=<name>``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING

from speaker.bgp.core import iana

if TYPE_CHECKING:
    from speaker.bgp.core.messages import Notification


class ErrorAction(enum.IntEnum):
    """RFC 7606 section 2 error-handling approaches, weakest first (so ``max`` picks the one to apply)."""

    DISCARD = 1
    WITHDRAW = 2
    AFI_SAFI_DISABLE = 3
    RESET = 4


class BgpError(Exception):
    """A protocol error: what to tell the peer (code, subcode, data) and what to do (action).

    Args:
        code: the NOTIFICATION Error Code (:class:`~speaker.bgp.core.iana.ErrorCode`).
        subcode: the Error Subcode, 0 for "unspecific".
        data: the Data field the RFC prescribes for this error (often the offending attribute).
        action: the RFC 7606 approach; anything but ``RESET`` keeps the session up.
        message: a sentence for logs, naming what was wrong.
        family: the (AFI, SAFI) an ``AFI_SAFI_DISABLE`` error applies to.
    """

    def __init__(
        self,
        code: int,
        subcode: int = 0,
        data: bytes = b"",
        action: ErrorAction = ErrorAction.RESET,
        *,
        message: str = "",
        family: tuple[int, int] | None = None,
    ) -> None:
        self.code = int(code)
        self.subcode = int(subcode)
        self.data = bytes(data)
        self.action = action
        self.family = family
        self.message = message or iana.error_name(code, subcode)
        super().__init__(self.message)

    @property
    def name(self) -> str:
        """``"Update Message / Malformed As Path"``: the RFC's name of (code, subcode)."""
        return iana.error_name(self.code, self.subcode)

    def __str__(self) -> str:
        return f"{self.message} ({self.name}, {self.action.name.lower()})"

    def __repr__(self) -> str:
        return (
            f"BgpError(code={self.code}, subcode={self.subcode}, data={self.data!r}, "
            f"action={self.action.name}, message={self.message!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BgpError):
            return NotImplemented
        return (self.code, self.subcode, self.data, self.action, self.family) == (
            other.code,
            other.subcode,
            other.data,
            other.action,
            other.family,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.subcode, self.data, self.action))


def strongest(errors: Iterable[BgpError | None]) -> BgpError | None:
    """The error whose action is the most severe (the first of equals), or None when there is none."""
    worst: BgpError | None = None
    for error in errors:
        if error is not None and (worst is None or error.action > worst.action):
            worst = error
    return worst


def to_notification(error: BgpError) -> Notification:
    """The NOTIFICATION that reports ``error`` to the peer: the only conversion of an error to wire format.

    RFC 4271 section 6: "When any of the conditions described here are detected, a NOTIFICATION message, with the
    indicated Error Code, Error Subcode, and Data fields, is sent, and the BGP connection is closed".
    """
    # messages imports this module to raise BgpError, so the reverse import waits until first use.
    from speaker.bgp.core.messages import Notification

    return Notification(error.code, error.subcode, error.data)


def header_error(subcode: iana.HeaderSubcode, data: bytes = b"", message: str = "") -> BgpError:
    return BgpError(iana.ErrorCode.MESSAGE_HEADER, subcode, data, message=message)


def open_error(subcode: iana.OpenSubcode, data: bytes = b"", message: str = "") -> BgpError:
    return BgpError(iana.ErrorCode.OPEN_MESSAGE, subcode, data, message=message)


def update_error(
    subcode: iana.UpdateSubcode,
    data: bytes = b"",
    action: ErrorAction = ErrorAction.RESET,
    message: str = "",
    family: tuple[int, int] | None = None,
) -> BgpError:
    return BgpError(iana.ErrorCode.UPDATE_MESSAGE, subcode, data, action, message=message, family=family)


class DropReason(enum.StrEnum):
    """Why an input was ignored rather than acted on (style anchor 7). Values are metric label values."""

    #: routes a peer announced to us: parsed, counted and ignored (a load-balancer speaker only advertises).
    RECEIVED_ROUTE_IGNORED = "received_route_ignored"
    #: RFC 7606 treat-as-withdraw: an UPDATE with a malformed attribute, its routes taken as withdrawn.
    TREAT_AS_WITHDRAW = "treat_as_withdraw"
    #: RFC 7606 attribute discard: a malformed attribute that does not affect route selection.
    ATTRIBUTE_DISCARDED = "attribute_discarded"
    #: RFC 4760 section 7: routes of a family we stopped accepting after a malformed MP_REACH/MP_UNREACH.
    AFI_SAFI_DISABLED = "afi_safi_disabled"
    #: RFC 2918 section 4: ROUTE-REFRESH without the capability, or for a family that was not negotiated.
    ROUTE_REFRESH_NOT_NEGOTIATED = "route_refresh_not_negotiated"
    #: bytes that arrived after the session had already closed the connection.
    DATA_AFTER_CLOSE = "data_after_close"
    #: an incoming TCP connection no configured session wants (unknown address, stopped, or lost a collision).
    CONNECTION_REFUSED = "connection_refused"
    #: prefixes we want to advertise but cannot (yet): the family was not negotiated, or the session has no address
    #: of that family to give as next hop. They stay pending (metallb_bgp_pending_prefixes_total).
    NO_NEXT_HOP = "no_next_hop"


__all__ = [
    "BgpError",
    "DropReason",
    "ErrorAction",
    "header_error",
    "open_error",
    "strongest",
    "to_notification",
    "update_error",
]
