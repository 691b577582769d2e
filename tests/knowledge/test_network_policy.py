"""The network policy: only public addresses, unless allow-listed; names are judged by every address they resolve
to, and the guarded transport connects only to what it checked (redirects included)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from knowledge import BlockedAddressError, NetworkPolicy, guarded_transport, permitted_addresses
from tests.fakes.http_server import BackgroundServer


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("fd12::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("0.0.0.0", "reserved"),  # noqa: S104 - an address under test, not a bind
        ("224.0.0.1", "multicast"),
    ],
)
def test_non_public_addresses_are_refused_with_their_kind(address: str, reason: str) -> None:
    refusal = NetworkPolicy().refusal(ipaddress.ip_address(address))
    assert refusal is not None and reason in refusal


def test_public_addresses_pass_and_allow_listed_networks_pass() -> None:
    assert NetworkPolicy().refusal(ipaddress.ip_address("93.184.216.34")) is None
    policy = NetworkPolicy(allowed_networks=("127.0.0.0/8", "10.0.0.5"))
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.0.0.5")) is None
    assert policy.refusal(ipaddress.ip_address("10.0.0.6")) is not None


async def test_a_name_is_judged_by_what_it_resolves_to_and_the_message_names_the_setting() -> None:
    policy = NetworkPolicy(setting="tools.fetch_allowed_networks")
    with pytest.raises(BlockedAddressError) as refused:
        await permitted_addresses("localhost", 80, policy)
    assert "localhost" in str(refused.value)
    assert "loopback" in str(refused.value)
    assert "tools.fetch_allowed_networks" in str(refused.value)
    assert await permitted_addresses("localhost", 80, NetworkPolicy(allowed_networks=("127.0.0.0/8", "::1/128")))


async def test_an_unresolvable_name_is_refused() -> None:
    with pytest.raises(BlockedAddressError, match="could not resolve"):
        await permitted_addresses("no-such-host.invalid", 80, NetworkPolicy())


@pytest.fixture(scope="module")
def site() -> Iterator[BackgroundServer]:
    async def page(request: Request) -> Response:
        return PlainTextResponse("hello")

    async def bounce(request: Request) -> Response:
        return RedirectResponse(str(request.query_params["to"]), status_code=302)

    server = BackgroundServer(Starlette(routes=[Route("/page", page), Route("/bounce", bounce)])).start()
    yield server
    server.stop()


async def test_the_guarded_transport_refuses_loopback_before_connecting(site: BackgroundServer) -> None:
    async with httpx.AsyncClient(transport=guarded_transport(NetworkPolicy())) as client:
        with pytest.raises(BlockedAddressError):
            await client.get(f"{site.url}/page")
        with pytest.raises(BlockedAddressError):
            await client.get(f"http://localhost:{site.port}/page")


async def test_the_guarded_transport_connects_where_the_operator_allows(site: BackgroundServer) -> None:
    policy = NetworkPolicy(allowed_networks=("127.0.0.0/8", "::1/128"))
    async with httpx.AsyncClient(transport=guarded_transport(policy)) as client:
        response = await client.get(f"http://localhost:{site.port}/page")
    assert response.text == "hello"


async def test_every_redirect_hop_is_checked_when_it_connects(site: BackgroundServer) -> None:
    # The first hop is allowed (127.0.0.1); the redirect goes to 127.0.0.2, which is not on the allow-list.
    policy = NetworkPolicy(allowed_networks=("127.0.0.1/32",))
    target = f"http://127.0.0.2:{site.port}/page"
    async with httpx.AsyncClient(transport=guarded_transport(policy), follow_redirects=True) as client:
        with pytest.raises(BlockedAddressError, match="127.0.0.2"):
            await client.get(f"{site.url}/bounce", params={"to": target})
