"""Sans-IO core of the L2 data plane: bytes, events and the time in; frames, events and deadlines out.

``ethernet`` (frame header, MAC helpers, :class:`FrameError`), ``arp`` (RFC 826 codec and the RFC 5227/5944
forms), ``ndp`` (IPv6 header, ICMPv6 NS/NA and their checksum, RFC 4861), ``responder`` (the answering decision and
:class:`DropReason`), ``announce`` (gratuitous ARP / unsolicited NA schedule), ``probe`` (RFC 5227 / RFC 4862
conflict detection), ``ownership`` (the life of each owned address, tying the others together). import-linter
forbids sockets, clocks, threads, netlink and scapy here.
"""
