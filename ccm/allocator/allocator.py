"""The IP address allocator: MetalLB's allocation semantics, deterministic and independent of pool size.

Theory of operation
-------------------
State (all in memory; the truth survives in ``Service.status.loadBalancer.ingress``, metallb.md section 3):

* ``_held``: service key -> the :class:`~ccm.allocator.types.Assignment` and the (CIDR index, offset) slots
  it occupies;
* per CIDR, a :class:`~ccm.allocator.freeindex.CidrIndex`: offset -> :class:`AddressUse` (holders, sharing
  key, backend key, ports per holder), plus the free-offset heap;
* a :class:`~ccm.allocator.freeindex.SharedIndex` of shareable in-use addresses by key.

Every operation validates first and mutates last, so a refused operation leaves no trace (MetalLB's
``TestAssignment`` checks this after every step; so do ours). Refusals are returned as
:class:`~ccm.allocator.errors.AllocationError`, never raised.

Operations, and the MetalLB function each mirrors:

``assign(request, addresses)`` (``Allocator.Assign``)
    Give a Service exactly these addresses: restoring the ingress IPs after a restart, or honouring
    ``loadBalancerIPs``. Rules, in order: one or two addresses of different families; families acceptable for
    the Service; all in one pool and none avoided by avoidBuggyIPs ("... is not allowed in config"); the
    pool's serviceAllocation admits the Service; each address shareable (below). autoAssign is irrelevant.
    Re-assigning a Service its own addresses is idempotent; a Service alone on an address may change its
    sharing key in place.
``allocate(request)`` (controller ``allocateIPs`` + ``Allocate`` / ``AllocateFromPool``)
    A Service already holding addresses keeps them (re-validated, like MetalLB). Otherwise requested
    addresses are assigned exactly (their families must be exactly the Service's); else the requested pool is
    used (ignoring autoAssign, but its serviceAllocation must admit the Service); else the pools from
    :class:`~ccm.allocator.pools.PoolSet` in order (pinned by priority then name, then the rest by name).
    Within a pool, CIDRs in declaration order, lowest usable address first, an in-use address being usable
    when shareable. Dual-stack: the first pool that gives both families wins; PreferDualStack falls back to
    the first pool giving the primary family, then the secondary; RequireDualStack never splits pools.
``add_missing_family(request)`` (``AllocateFromPoolForAdditionalFamily``)
    PreferDualStack: a Service holding one address gets the other family from the same pool, when available.
``release(service)`` (``Unassign``)
``set_config(config)`` (``SetPools`` + the re-Assign of every Service in the following reprocess-all)
    Installs the new pools and re-validates every assignment at once: those still allowed are kept (and
    re-tagged if their addresses now belong to a differently named pool); the others are released and
    reported, so the ccm can move or clear exactly those Services.

Sharing (metallb.md section 2, ``checkSharing``), judged against the *other* holders of an address: both sides
have a sharing key, the keys are equal, the backend keys are equal (externalTrafficPolicy Local: identical
selectors), and no (protocol, port) is used by both.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from ccm.allocator.errors import (
    AllocationError,
    AllocationReason,
    error,
    quote_addresses,
    same_family,
    too_many_addresses,
)
from ccm.allocator.freeindex import AddressUse, CidrIndex, SharedIndex
from ccm.allocator.pools import PoolSet, PoolState
from ccm.allocator.types import (
    AllocationRequest,
    Assignment,
    ConfigChange,
    Eviction,
    IPFamilyPolicy,
    PoolStats,
    Port,
    Retag,
)
from ironlb.api.addresses import IPAddress, IPFamily
from ironlb.config.model import Config

_Slot = tuple[CidrIndex, int]
_Plan = tuple[PoolState, tuple[_Slot, ...]]


def _address(cidr: CidrIndex, offset: int) -> IPAddress:
    if cidr.version == 4:
        return ipaddress.IPv4Address(cidr.start + offset)
    return ipaddress.IPv6Address(cidr.start + offset)


def _other(family: IPFamily) -> IPFamily:
    return IPFamily.IPV6 if family is IPFamily.IPV4 else IPFamily.IPV4


class _Holding:
    __slots__ = ("assignment", "slots")

    def __init__(self, assignment: Assignment, slots: tuple[_Slot, ...]) -> None:
        self.assignment = assignment
        self.slots = slots


class Allocator:
    """Pure, deterministic address allocator for LoadBalancer Services (see the module docstring)."""

    def __init__(self, config: Config | None = None) -> None:
        """Create an allocator holding nothing, over ``config`` (default: no pools)."""
        self._config = Config()
        self._pools = PoolSet(self._config)
        self._held: dict[str, _Holding] = {}
        self._shared = SharedIndex()
        if config is not None:
            self.set_config(config)

    # --------------------------------------------------------------------------------------------
    # Configuration
    # --------------------------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self._config

    def set_config(self, config: Config) -> ConfigChange:
        """Install new pools; keep every assignment they still allow, release and report the others.

        Returns:
            A :class:`ConfigChange` listing the evicted Services (with the reason, for the ccm's
            ``ClearAssignment`` Event) and the re-tagged ones. Services not listed are untouched.
        """
        old = self._held
        self._config = config
        self._pools = PoolSet(config)
        self._held = {}
        self._shared = SharedIndex()
        evicted: list[Eviction] = []
        retagged: list[Retag] = []
        for service in sorted(old):
            current = old[service].assignment
            request = current.request
            plan = self._plan(request, current.addresses)
            if isinstance(plan, AllocationError):
                evicted.append(Eviction(current, plan))
                continue
            state = plan[0]
            if request.requested_pool is not None and state.name != request.requested_pool:
                message = (
                    f"{quote_addresses(current.addresses)} now belong to pool {state.name}, "
                    f"not to requested address pool {request.requested_pool}"
                )
                evicted.append(Eviction(current, error(AllocationReason.NOT_IN_REQUESTED_POOL, message)))
                continue
            self._commit(request, state, plan[1], current.addresses)
            if state.name != current.pool:
                retagged.append(Retag(service, current.pool, state.name))
        return ConfigChange(tuple(evicted), tuple(retagged), tuple(self._pools.ignored_cidrs))

    # --------------------------------------------------------------------------------------------
    # Operations
    # --------------------------------------------------------------------------------------------
    def assign(self, request: AllocationRequest, addresses: Sequence[IPAddress]) -> Assignment | AllocationError:
        """Give ``request.service`` exactly ``addresses`` (restore, or an explicit request).

        Returns:
            The new :class:`Assignment` (replacing any previous one of the Service), or an
            :class:`AllocationError`; on error nothing changed, the Service keeps what it held.
        """
        addresses = tuple(addresses)
        problem = self._check_shape(addresses)
        if problem is not None:
            return problem
        plan = self._plan(request, addresses)
        if isinstance(plan, AllocationError):
            return plan
        return self._commit(request, plan[0], plan[1], addresses)

    def allocate(self, request: AllocationRequest) -> Assignment | AllocationError:
        """Find addresses for ``request.service`` following MetalLB's rules (see the module docstring).

        Idempotent: a Service that already holds addresses keeps them (re-validated against ``request``);
        to move it, :meth:`release` it first (or use :func:`~ccm.allocator.converge.converge`).
        """
        held = self._held.get(request.service)
        if held is not None:
            return self.assign(request, held.assignment.addresses)
        if request.requested_addresses:
            return self._assign_requested(request)
        if request.requested_pool is not None:
            return self._allocate_from_pool(request, request.requested_pool)
        return self._allocate_auto(request)

    def add_missing_family(self, request: AllocationRequest) -> Assignment | AllocationError:
        """PreferDualStack: add the missing family to a Service holding one address, from the same pool.

        The existing address stays first. A Service already holding two addresses is returned unchanged.
        Errors: NOT_ASSIGNED, NO_AVAILABLE_IPS_IN_POOL ("no available IPs in pool X for IPv6 IPFamily"), or
        any refusal of :meth:`assign` (e.g. FAMILY_MISMATCH for a single-stack Service).
        """
        held = self._held.get(request.service)
        if held is None:
            message = f'service "{request.service}" holds no address to add another IP family to'
            return error(AllocationReason.NOT_ASSIGNED, message)
        current = held.assignment
        if len(current.addresses) != 1:
            return current
        existing = current.addresses[0]
        missing = _other(IPFamily.of(existing))
        state = self._pools.by_name[current.pool]
        slot = self._lowest(state, missing, request, frozenset(request.ports))
        if slot is None:
            message = f"no available IPs in pool {state.name} for {missing} IPFamily"
            return error(AllocationReason.NO_AVAILABLE_IPS_IN_POOL, message)
        return self.assign(request, (existing, _address(*slot)))

    def release(self, service: str) -> Assignment | None:
        """Free everything ``service`` holds (Service deleted, no longer LoadBalancer, class changed).

        Returns:
            What it held, or None if it held nothing.
        """
        held = self._held.pop(service, None)
        if held is None:
            return None
        self._unregister(service, held)
        return held.assignment

    # --------------------------------------------------------------------------------------------
    # Lookups
    # --------------------------------------------------------------------------------------------
    def assignment(self, service: str) -> Assignment | None:
        held = self._held.get(service)
        return held.assignment if held is not None else None

    def assignments(self) -> tuple[Assignment, ...]:
        """Every assignment, ordered by service key."""
        return tuple(self._held[s].assignment for s in sorted(self._held))

    def holders(self, address: IPAddress) -> tuple[str, ...]:
        """The services holding ``address``, sorted (more than one only when they share it)."""
        cidr = self._pools.locate(address.version, int(address))
        if cidr is None:
            return ()
        use = cidr.used.get(int(address) - cidr.start)
        return tuple(sorted(use.holders)) if use is not None else ()

    def pool_of_address(self, address: IPAddress) -> str | None:
        """The pool containing ``address`` (whether or not it is usable or in use)."""
        cidr = self._pools.locate(address.version, int(address))
        return cidr.pool if cidr is not None else None

    def pool_stats(self, pool: str) -> PoolStats | None:
        state = self._pools.by_name.get(pool)
        return state.stats() if state is not None else None

    def all_pool_stats(self) -> dict[str, PoolStats]:
        """Statistics of every configured pool, by name."""
        return {state.name: state.stats() for state in self._pools}

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, service: object) -> bool:
        return service in self._held

    # --------------------------------------------------------------------------------------------
    # Validation
    # --------------------------------------------------------------------------------------------
    @staticmethod
    def _check_shape(addresses: tuple[IPAddress, ...]) -> AllocationError | None:
        if not addresses:
            return error(AllocationReason.NO_ADDRESSES, "no addresses to assign")
        if len(addresses) > 2:
            return error(AllocationReason.TOO_MANY_ADDRESSES, too_many_addresses(addresses))
        if len(addresses) == 2 and addresses[0].version == addresses[1].version:
            return error(AllocationReason.SAME_FAMILY, same_family(addresses[0], addresses[1]))
        return None

    def _plan(self, request: AllocationRequest, addresses: tuple[IPAddress, ...]) -> _Plan | AllocationError:
        """Check that ``request.service`` may hold ``addresses`` now; changes nothing."""
        families = frozenset(IPFamily.of(a) for a in addresses)
        if not request.accepts_families(families):
            message = f"loadBalancer IP(s) {quote_addresses(addresses)} does not match the ipFamily of the service"
            return error(AllocationReason.FAMILY_MISMATCH, message)
        slots: list[_Slot] = []
        for address in addresses:
            value = int(address)
            cidr = self._pools.locate(address.version, value)
            if cidr is None or cidr.is_avoided(value - cidr.start) or (slots and cidr.pool != slots[0][0].pool):
                message = f"{quote_addresses(addresses)} is not allowed in config"
                return error(AllocationReason.NOT_ALLOWED_IN_CONFIG, message)
            slots.append((cidr, value - cidr.start))
        state = self._pools.by_name[slots[0][0].pool]
        if not state.admits(request.namespace, request.labels):
            return error(AllocationReason.POOL_NOT_COMPATIBLE, f"pool {state.name} not compatible for ip assignment")
        for address, (cidr, offset) in zip(addresses, slots, strict=True):
            use = cidr.used.get(offset)
            if use is not None:
                problem = self._sharing_error(request, use, address)
                if problem is not None:
                    return problem
        return state, tuple(slots)

    @staticmethod
    def _sharing_error(request: AllocationRequest, use: AddressUse, address: IPAddress) -> AllocationError | None:
        others = sorted(s for s in use.holders if s != request.service)
        if not others:
            return None  # alone on the address: it may even change its sharing key in place
        if not use.sharing_key:
            reason, detail = AllocationReason.EXISTING_DOES_NOT_SHARE, "existing service does not allow sharing"
        elif not request.sharing_key:
            reason, detail = AllocationReason.NEW_DOES_NOT_SHARE, "new service does not allow sharing"
        elif request.sharing_key != use.sharing_key:
            reason = AllocationReason.SHARING_KEY_MISMATCH
            detail = f'sharing key "{request.sharing_key}" does not match existing sharing key "{use.sharing_key}"'
        elif request.backend_key != use.backend_key:
            reason = AllocationReason.BACKEND_KEY_MISMATCH
            detail = f'backend key "{request.backend_key}" does not match existing backend key "{use.backend_key}"'
        else:
            for port in request.ports:
                if any(port in use.holders[other] for other in others):
                    message = f'port {port} is already in use on "{address}"'
                    return error(AllocationReason.PORT_IN_USE, message)
            return None
        message = f'can\'t change sharing key for "{request.service}", address also in use by {",".join(others)}'
        return error(reason, f"{message}: {detail}")

    # --------------------------------------------------------------------------------------------
    # Choosing addresses
    # --------------------------------------------------------------------------------------------
    def _assign_requested(self, request: AllocationRequest) -> Assignment | AllocationError:
        addresses = request.requested_addresses
        problem = self._check_shape(addresses)
        if problem is not None:
            return problem
        if frozenset(IPFamily.of(a) for a in addresses) != frozenset(request.families):
            message = (
                f"requested loadBalancer IP(s) {quote_addresses(addresses)} does not match the ipFamily of the service"
            )
            return error(AllocationReason.FAMILY_MISMATCH, message)
        plan = self._plan(request, addresses)
        if isinstance(plan, AllocationError):
            return plan
        if request.requested_pool is not None and plan[0].name != request.requested_pool:
            message = (
                f"requested loadBalancer IP(s) {quote_addresses(addresses)} is not compatible with requested "
                f"address pool {request.requested_pool}"
            )
            return error(AllocationReason.NOT_IN_REQUESTED_POOL, message)
        return self._commit(request, plan[0], plan[1], addresses)

    def _lowest(
        self, state: PoolState, family: IPFamily, request: AllocationRequest, ports: frozenset[Port]
    ) -> _Slot | None:
        """The lowest address of ``family`` in ``state`` the Service may take: CIDRs in declaration order."""
        for cidr in state.by_family[family]:
            free = cidr.lowest_free()
            if request.sharing_key:
                below = free if free is not None else cidr.size
                shared = self._shared.lowest_compatible(cidr, request.sharing_key, request.backend_key, ports, below)
                if shared is not None:
                    return cidr, shared
            if free is not None:
                return cidr, free
        return None

    def _pick(self, state: PoolState, request: AllocationRequest) -> dict[IPFamily, _Slot]:
        ports = frozenset(request.ports)
        found: dict[IPFamily, _Slot] = {}
        for family in request.families:
            slot = self._lowest(state, family, request, ports)
            if slot is not None:
                found[family] = slot
        return found

    def _choose(self, pools: Iterable[PoolState], request: AllocationRequest) -> tuple[_Plan | None, bool]:
        """First pool able to serve ``request`` (PreferDualStack fallbacks remembered); also says whether some
        pool offered only one of two required families."""
        primary_candidate: _Plan | None = None
        secondary_candidate: _Plan | None = None
        partial = False
        families = request.families
        for state in pools:
            found = self._pick(state, request)
            if len(found) == len(families):
                return (state, self._ordered(found)), partial
            if not found:
                continue
            partial = True
            if request.ip_family_policy is IPFamilyPolicy.PREFER_DUAL_STACK:
                if families[0] in found and primary_candidate is None:
                    primary_candidate = (state, (found[families[0]],))
                if families[1] in found and secondary_candidate is None:
                    secondary_candidate = (state, (found[families[1]],))
        return primary_candidate or secondary_candidate, partial

    @staticmethod
    def _ordered(found: dict[IPFamily, _Slot]) -> tuple[_Slot, ...]:
        """IPv4 first, then IPv6 (MetalLB's ``selectIPsForFamilyAndPolicy`` order)."""
        return tuple(found[f] for f in (IPFamily.IPV4, IPFamily.IPV6) if f in found)

    def _allocate_auto(self, request: AllocationRequest) -> Assignment | AllocationError:
        plan, partial = self._choose(self._pools.pinned_for(request.namespace, request.labels), request)
        if plan is None:
            plan, partial_fallback = self._choose(self._pools.fallback, request)
            partial = partial or partial_fallback
        if plan is None:
            if partial and request.is_dual_stack:
                return error(AllocationReason.NO_SUITABLE_POOL_DUALSTACK, "no suitable pool for dualstack IPFamily")
            return error(AllocationReason.NO_AVAILABLE_IPS, "no available IPs")
        return self._commit_slots(request, plan)

    def _allocate_from_pool(self, request: AllocationRequest, name: str) -> Assignment | AllocationError:
        state = self._pools.by_name.get(name)
        if state is None:
            return error(AllocationReason.UNKNOWN_POOL, f'unknown pool "{name}"')
        if not state.admits(request.namespace, request.labels):
            return error(AllocationReason.POOL_NOT_COMPATIBLE, f"pool {name} not compatible for ip assignment")
        plan, _ = self._choose((state,), request)
        if plan is not None:
            return self._commit_slots(request, plan)
        if request.is_dual_stack and self._pick(state, request):
            message = f"no available IPs in pool {name} for dualstack IPFamily"
        elif not request.is_dual_stack and self._lowest(
            state, _other(request.families[0]), request, frozenset(request.ports)
        ):
            message = f"no available IPs in pool {name} for {request.families[0]} IPFamily"
        else:
            message = f"no available IPs in pool {name}"
        return error(AllocationReason.NO_AVAILABLE_IPS_IN_POOL, message)

    # --------------------------------------------------------------------------------------------
    # Mutation (only after validation)
    # --------------------------------------------------------------------------------------------
    def _commit_slots(self, request: AllocationRequest, plan: _Plan) -> Assignment:
        state, slots = plan
        return self._commit(request, state, slots, tuple(_address(c, o) for c, o in slots))

    def _commit(
        self, request: AllocationRequest, state: PoolState, slots: tuple[_Slot, ...], addresses: tuple[IPAddress, ...]
    ) -> Assignment:
        service = request.service
        old = self._held.pop(service, None)
        if old is not None:
            self._unregister(service, old)
        ports = frozenset(request.ports)
        for cidr, offset in slots:
            use = cidr.used.get(offset)
            if use is None:
                use = AddressUse(request.sharing_key, request.backend_key)
                cidr.take(offset, use)
            use.holders[service] = ports
            self._shared.join(cidr.version, use, cidr.start + offset, ports)
        assignment = Assignment(service, state.name, addresses, request)
        self._held[service] = _Holding(assignment, slots)
        return assignment

    def _unregister(self, service: str, held: _Holding) -> None:
        for cidr, offset in held.slots:
            use = cidr.used[offset]
            ports = use.holders.pop(service)
            self._shared.leave(cidr.version, use, cidr.start + offset, ports)
            if not use.holders:
                cidr.free(offset)


__all__ = ["Allocator"]
