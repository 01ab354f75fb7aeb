from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("node", "version", "uptime_seconds", "config", "l2", "bgp", "bgp_sessions", "bfd_sessions", "membership", "counters")
    NODE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    L2_FIELD_NUMBER: _ClassVar[int]
    BGP_FIELD_NUMBER: _ClassVar[int]
    BGP_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    BFD_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIP_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    node: str
    version: str
    uptime_seconds: float
    config: ConfigState
    l2: _containers.RepeatedCompositeFieldContainer[L2Announcement]
    bgp: _containers.RepeatedCompositeFieldContainer[BgpAnnouncement]
    bgp_sessions: _containers.RepeatedCompositeFieldContainer[BgpSession]
    bfd_sessions: _containers.RepeatedCompositeFieldContainer[BfdSession]
    membership: Membership
    counters: _containers.RepeatedCompositeFieldContainer[Counter]
    def __init__(self, node: _Optional[str] = ..., version: _Optional[str] = ..., uptime_seconds: _Optional[float] = ..., config: _Optional[_Union[ConfigState, _Mapping]] = ..., l2: _Optional[_Iterable[_Union[L2Announcement, _Mapping]]] = ..., bgp: _Optional[_Iterable[_Union[BgpAnnouncement, _Mapping]]] = ..., bgp_sessions: _Optional[_Iterable[_Union[BgpSession, _Mapping]]] = ..., bfd_sessions: _Optional[_Iterable[_Union[BfdSession, _Mapping]]] = ..., membership: _Optional[_Union[Membership, _Mapping]] = ..., counters: _Optional[_Iterable[_Union[Counter, _Mapping]]] = ...) -> None: ...

class ConfigState(_message.Message):
    __slots__ = ("loaded", "stale", "error_summary", "pools", "peers")
    LOADED_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    ERROR_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    POOLS_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    loaded: bool
    stale: bool
    error_summary: str
    pools: int
    peers: int
    def __init__(self, loaded: _Optional[bool] = ..., stale: _Optional[bool] = ..., error_summary: _Optional[str] = ..., pools: _Optional[int] = ..., peers: _Optional[int] = ...) -> None: ...

class L2Announcement(_message.Message):
    __slots__ = ("ip", "services", "interfaces", "phase", "since_unix", "cause")
    IP_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    INTERFACES_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    ip: str
    services: _containers.RepeatedScalarFieldContainer[str]
    interfaces: _containers.RepeatedScalarFieldContainer[str]
    phase: str
    since_unix: float
    cause: str
    def __init__(self, ip: _Optional[str] = ..., services: _Optional[_Iterable[str]] = ..., interfaces: _Optional[_Iterable[str]] = ..., phase: _Optional[str] = ..., since_unix: _Optional[float] = ..., cause: _Optional[str] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("prefix", "local_pref", "has_local_pref", "communities", "large_communities", "services")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LOCAL_PREF_FIELD_NUMBER: _ClassVar[int]
    HAS_LOCAL_PREF_FIELD_NUMBER: _ClassVar[int]
    COMMUNITIES_FIELD_NUMBER: _ClassVar[int]
    LARGE_COMMUNITIES_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    local_pref: int
    has_local_pref: bool
    communities: _containers.RepeatedScalarFieldContainer[str]
    large_communities: _containers.RepeatedScalarFieldContainer[str]
    services: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, prefix: _Optional[str] = ..., local_pref: _Optional[int] = ..., has_local_pref: _Optional[bool] = ..., communities: _Optional[_Iterable[str]] = ..., large_communities: _Optional[_Iterable[str]] = ..., services: _Optional[_Iterable[str]] = ...) -> None: ...

class BgpAnnouncement(_message.Message):
    __slots__ = ("peer", "routes")
    PEER_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    peer: str
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    def __init__(self, peer: _Optional[str] = ..., routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ...) -> None: ...

class BgpSession(_message.Message):
    __slots__ = ("peer", "address", "state", "local_address", "local_asn", "peer_asn", "router_id", "peer_router_id", "uptime_seconds", "hold_time", "keepalive_time", "families", "graceful_restart", "advertised", "pending", "updates_sent", "updates_received", "prefixes_received", "last_error")
    PEER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ASN_FIELD_NUMBER: _ClassVar[int]
    PEER_ASN_FIELD_NUMBER: _ClassVar[int]
    ROUTER_ID_FIELD_NUMBER: _ClassVar[int]
    PEER_ROUTER_ID_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HOLD_TIME_FIELD_NUMBER: _ClassVar[int]
    KEEPALIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    FAMILIES_FIELD_NUMBER: _ClassVar[int]
    GRACEFUL_RESTART_FIELD_NUMBER: _ClassVar[int]
    ADVERTISED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    UPDATES_SENT_FIELD_NUMBER: _ClassVar[int]
    UPDATES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    PREFIXES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    peer: str
    address: str
    state: str
    local_address: str
    local_asn: int
    peer_asn: int
    router_id: str
    peer_router_id: str
    uptime_seconds: float
    hold_time: float
    keepalive_time: float
    families: _containers.RepeatedScalarFieldContainer[str]
    graceful_restart: bool
    advertised: _containers.RepeatedScalarFieldContainer[str]
    pending: int
    updates_sent: int
    updates_received: int
    prefixes_received: int
    last_error: str
    def __init__(self, peer: _Optional[str] = ..., address: _Optional[str] = ..., state: _Optional[str] = ..., local_address: _Optional[str] = ..., local_asn: _Optional[int] = ..., peer_asn: _Optional[int] = ..., router_id: _Optional[str] = ..., peer_router_id: _Optional[str] = ..., uptime_seconds: _Optional[float] = ..., hold_time: _Optional[float] = ..., keepalive_time: _Optional[float] = ..., families: _Optional[_Iterable[str]] = ..., graceful_restart: _Optional[bool] = ..., advertised: _Optional[_Iterable[str]] = ..., pending: _Optional[int] = ..., updates_sent: _Optional[int] = ..., updates_received: _Optional[int] = ..., prefixes_received: _Optional[int] = ..., last_error: _Optional[str] = ...) -> None: ...

class BfdSession(_message.Message):
    __slots__ = ("peer", "local", "profile", "state", "remote_state", "diagnostic", "detection_time_ms", "transmit_interval_ms", "packets_in", "packets_out", "up_events", "down_events")
    PEER_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REMOTE_STATE_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTIC_FIELD_NUMBER: _ClassVar[int]
    DETECTION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    TRANSMIT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    PACKETS_IN_FIELD_NUMBER: _ClassVar[int]
    PACKETS_OUT_FIELD_NUMBER: _ClassVar[int]
    UP_EVENTS_FIELD_NUMBER: _ClassVar[int]
    DOWN_EVENTS_FIELD_NUMBER: _ClassVar[int]
    peer: str
    local: str
    profile: str
    state: str
    remote_state: str
    diagnostic: str
    detection_time_ms: float
    transmit_interval_ms: float
    packets_in: int
    packets_out: int
    up_events: int
    down_events: int
    def __init__(self, peer: _Optional[str] = ..., local: _Optional[str] = ..., profile: _Optional[str] = ..., state: _Optional[str] = ..., remote_state: _Optional[str] = ..., diagnostic: _Optional[str] = ..., detection_time_ms: _Optional[float] = ..., transmit_interval_ms: _Optional[float] = ..., packets_in: _Optional[int] = ..., packets_out: _Optional[int] = ..., up_events: _Optional[int] = ..., down_events: _Optional[int] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("name", "address", "state", "metadata")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    state: str
    metadata: str
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., state: _Optional[str] = ..., metadata: _Optional[str] = ...) -> None: ...

class Membership(_message.Message):
    __slots__ = ("enabled", "source", "local", "members")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    source: str
    local: str
    members: _containers.RepeatedCompositeFieldContainer[Member]
    def __init__(self, enabled: _Optional[bool] = ..., source: _Optional[str] = ..., local: _Optional[str] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ...) -> None: ...

class Counter(_message.Message):
    __slots__ = ("name", "labels", "value")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    value: float
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., value: _Optional[float] = ...) -> None: ...
