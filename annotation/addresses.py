"""Outgoing HTTP to URLs researchers give (webhooks, model endpoints): a host that resolves to
a private, loopback, link-local, reserved or multicast address is refused unless the feature's
setting allows it, so the server cannot be pointed at its own network (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit


class AddressRefused(Exception):
    """The URL's host resolves to an address that may not be reached."""


def public_address_check(url: str, *, allow_private: bool) -> str | None:
    """Refuse a URL whose host resolves to a non-public address (each address it resolves
    to is checked), unless `allow_private`; return the first address, which the caller then
    connects to, so a name that resolves elsewhere a moment later (DNS rebinding) is never
    asked again. None when private addresses are allowed (connect by name)."""
    if allow_private:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"{host!r} does not resolve: {exc}") from exc
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise AddressRefused(f"{host!r} resolves to {address}, which is not public")
        addresses.append(address)
    if not addresses:
        raise AddressRefused(f"{host!r} has no address")
    return str(addresses[0])


def connection_target(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL with its host replaced by the checked address, the Host header, and the TLS
    server name (the certificate is still checked against the name in the URL)."""
    if address is None:
        return url, {}, {}
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=netloc).geturl(), {"Host": host}, {"sni_hostname": parts.hostname}
