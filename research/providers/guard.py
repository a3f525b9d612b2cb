"""Fetching a page or PDF a provider points to, never from a private,
loopback or link-local address: such a URL could reach services that only
this machine's network should see.

Every address the host resolves to is checked before connecting, every
redirect is checked again, and the address actually connected to is checked
before the body is read. Tests pass their own `allowed` check to reach a
local server; nothing a user can set turns the guard off.
"""

import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from research.exceptions import ProviderError, UnsafeAddressError
from research.providers.http import PRODUCT

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressCheck = Callable[[IPAddress], bool]
Resolver = Callable[[str, int], list[str]]
MAX_BYTES = 25 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT_SECONDS = 30.0


def public_only(address: IPAddress) -> bool:
    """Return whether address is one the open internet routes to."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ProviderError(
            f"cannot resolve {host}: {error}", transient=True
        ) from error
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class Fetched:
    url: str
    content_type: str
    body: bytes


def check_url(
    url: str,
    *,
    allowed: AddressCheck = public_only,
    resolver: Resolver = system_resolver,
) -> list[IPAddress]:
    """Return the addresses url's host resolves to; raise UnsafeAddressError
    if the scheme is not HTTP(S) or any address is not allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeAddressError(f"refusing {url!r}: only http and https URLs")

    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = [
        ipaddress.ip_address(value.split("%", 1)[0])
        for value in resolver(parts.hostname, port)
    ]
    if not addresses:
        raise UnsafeAddressError(f"refusing {url!r}: its host has no address")
    refused = [str(address) for address in addresses if not allowed(address)]
    if refused:
        raise UnsafeAddressError(
            f"refusing {url!r}: {parts.hostname} resolves to a non-public "
            f"address ({', '.join(refused)})"
        )
    return addresses


def fetch(
    url: str,
    *,
    allowed: AddressCheck = public_only,
    resolver: Resolver = system_resolver,
    transport: httpx.BaseTransport | None = None,
    max_bytes: int = MAX_BYTES,
) -> Fetched:
    """Download url, following at most MAX_REDIRECTS checked redirects."""
    with httpx.Client(
        timeout=TIMEOUT_SECONDS,
        headers={"User-Agent": PRODUCT},
        follow_redirects=False,
        transport=transport,
    ) as client:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current, allowed=allowed, resolver=resolver)
            with client.stream("GET", current) as response:
                _check_peer(response, current, allowed)
                if response.is_redirect and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise ProviderError(
                        f"fetching {current} answered HTTP {response.status_code}",
                        transient=response.status_code >= 500,
                        status=response.status_code,
                    )
                body = _read_limited(response, max_bytes, current)
                content_type = response.headers.get("content-type", "")
                return Fetched(current, content_type.split(";")[0].strip(), body)
    raise ProviderError(f"fetching {url} redirected more than {MAX_REDIRECTS} times")


def _check_peer(response: httpx.Response, url: str, allowed: AddressCheck) -> None:
    # The name may resolve differently at connect time than when checked;
    # the peer the socket reached is what counts.
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return
    address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    if not allowed(address):
        raise UnsafeAddressError(
            f"refusing {url!r}: the connection reached non-public address {address}"
        )


def _read_limited(response: httpx.Response, limit: int, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise ProviderError(f"fetching {url}: more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
