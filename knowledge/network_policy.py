"""Which network addresses Switchboard may connect to when a document, a model or a config file names a URL.

Fetching a URL on someone else's word is a server-side request: without a check, a link to
``http://169.254.169.254/`` or ``http://localhost:5432/`` reaches the cloud metadata service or the database from
inside the network. Names are checked by the addresses they resolve to, every one of them, and the connection is
then made to the very address that was checked, so a name that resolves to a public address for the check and a
private one for the connection (DNS rebinding) gets nowhere. Every HTTP client that fetches on behalf of content
uses :func:`guarded_transport`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Annotated, Any

import httpcore
import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from knowledge.errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services answer on link-local and unique-local addresses; named so the refusal says what it was.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)


def _network(value: object) -> object:
    return ipaddress.ip_network(value, strict=False) if isinstance(value, str) else value


# A network in CIDR form (``10.20.0.0/16``) or a single address, as config files write it.
AllowedNetwork = Annotated[IPNetwork, BeforeValidator(_network)]


class NetworkPolicy(BaseModel):
    """Public addresses only, plus the networks an operator allow-lists (``127.0.0.0/8``, ``10.1.0.0/16``).

    ``setting`` names the config key that holds the allow-list, so a refusal tells the operator what to change.
    """

    model_config = ConfigDict(frozen=True)

    allowed_networks: tuple[AllowedNetwork, ...] = ()
    setting: str = Field(default="allowed_networks", exclude=True)

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached, or None when it may."""
        address = _unwrap(address)
        if any(address in network for network in self.allowed_networks):
            return None
        if address in _METADATA_ADDRESSES:
            return "a cloud metadata address"
        for kind, test in (
            ("a loopback", address.is_loopback),
            ("a link-local", address.is_link_local),
            ("a multicast", address.is_multicast),
            ("a reserved", address.is_reserved or address.is_unspecified),
            ("a private", address.is_private),
        ):
            if test:
                return f"{kind} address"
        if not address.is_global:
            return "a non-public address"
        return None


def _unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped or -compatible IPv6 one (``::ffff:127.0.0.1`` is loopback)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


async def permitted_addresses(host: str, port: int, policy: NetworkPolicy) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses, refusing if any one of them is not permitted.

    Raises:
        BlockedAddressError: the host resolves (or is) an address the policy refuses, or does not resolve.
    """
    host = host.strip("[]")
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _resolve(host, port)
    for address in addresses:
        reason = policy.refusal(address)
        if reason is not None:
            shown = host if str(address) == host else f"{host} ({address})"
            raise BlockedAddressError(
                f"refused to connect to {shown}: it is {reason}. If this host is meant to be reachable, "
                f"add its network to {policy.setting}."
            )
    return addresses


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise BlockedAddressError(f"could not resolve {host}: {error.strerror}") from error
    seen: dict[str, IPAddress] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]
        seen.setdefault(text, ipaddress.ip_address(text))
    if not seen:
        raise BlockedAddressError(f"could not resolve {host}: no addresses")
    return list(seen.values())


class _GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the policy permits, to exactly the address it checked."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await permitted_addresses(host, port, self._policy)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None  # noqa: S101 - permitted_addresses never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError(f"refused to connect to the Unix socket {path}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: NetworkPolicy, limits: httpx.Limits, verify: bool) -> None:
        super().__init__(limits=limits, verify=verify, trust_env=False)
        # httpx takes no network backend of its own, so the pool it built is replaced by one with the same
        # settings that connects through the guard; tests/knowledge/test_network_policy.py holds this in place.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedNetworkBackend(policy),
        )


def guarded_transport(
    policy: NetworkPolicy, *, limits: httpx.Limits | None = None, verify: bool = True
) -> httpx.AsyncBaseTransport:
    """An httpx transport whose every connection (redirects included) goes only where ``policy`` permits.

    Environment proxies are not used: a proxy would make the connection on our behalf, unchecked.
    """
    return _GuardedTransport(policy, limits or httpx.Limits(), verify)
