"""BFD for the BGP sessions: RFC 5880 asynchronous mode over RFC 5881 single-hop UDP.

``core/`` is the sans-IO protocol (codec, session state machine, session table); :mod:`speaker.bfd.udp` runs it on
sockets and asyncio timers; :mod:`speaker.bfd.manager` is the object the BGP speaker uses; :mod:`speaker.bfd.metrics`
exports MetalLB's FRR-mode BFD metrics. Import the submodules directly: this package imports nothing, so reading the
core does not pull in asyncio or the metrics registry.
"""
