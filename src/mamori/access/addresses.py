"""Device addresses: an IP address or a CIDR network, written one way only."""

from __future__ import annotations

import contextlib
import ipaddress

from mamori.access.errors import AccessError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def normalise_address(text: str) -> str:
    """An IP address or CIDR network in its one canonical form.

    IPv6 is compressed and lowercase; a network of one address (/32, /128) is written as the
    address. A network with host bits set (10.0.0.5/24) is refused rather than silently widened
    or narrowed: the hint names the network that was probably meant.
    """
    s = text.strip()
    try:
        if "%" in s:
            raise ValueError("an IPv6 zone names an interface of this machine, not a sender")
        if "/" not in s:
            addr = ipaddress.ip_address(s)
            # Sources are matched as IPv4 when a dual-stack socket reports them IPv4-mapped.
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                return str(addr.ipv4_mapped)
            return str(addr)
        net = ipaddress.ip_network(s, strict=True)
    except ValueError as e:
        raise _bad(text, s) from e
    if net.prefixlen == net.max_prefixlen:
        return normalise_address(str(net.network_address))
    return str(net)


def _bad(text: str, s: str) -> AccessError:
    loose: Network | None = None
    if "/" in s and "%" not in s:
        with contextlib.suppress(ValueError):
            loose = ipaddress.ip_network(s, strict=False)
    if loose is None:
        return AccessError(
            f"{text!r} is not an IP address or CIDR network",
            hint="write e.g. 192.0.2.10, 192.0.2.0/24, 2001:db8::7 or 2001:db8::/48",
        )
    return AccessError(
        f"{text!r} has host bits set after the prefix",
        hint=f"write the network as {loose}, or the single address without a prefix",
    )


def to_network(address: str) -> Network:
    """A normalised address as a network (a single address is a /32 or /128)."""
    return ipaddress.ip_network(address, strict=True)


def parse_ip(ip: str | None) -> Address | None:
    """A connection's source address, or None when it is absent or not an IP address.

    An IPv4-mapped IPv6 address (::ffff:192.0.2.1, as a dual-stack socket reports an IPv4
    sender) is taken as the IPv4 address; an IPv6 zone (%eth0) is ignored.
    """
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip.partition("%")[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr
