"""Address and fingerprint normalisation: one canonical form, and only AccessError on bad input."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.access import AccessError, normalise_address, normalise_fingerprint
from mamori.access.addresses import parse_ip, to_network

v4 = st.ip_addresses(v=4)
v6 = st.ip_addresses(v=6)


@st.composite
def networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    addr = draw(v4 | v6)
    prefix = draw(st.integers(0, addr.max_prefixlen))
    return ipaddress.ip_network(f"{addr}/{prefix}", strict=False)


@settings(max_examples=300)
@given(v4 | v6)
def test_an_address_is_kept_as_the_same_address(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    text = normalise_address(str(addr))
    parsed = ipaddress.ip_address(text)
    mapped = getattr(addr, "ipv4_mapped", None)
    assert parsed == (mapped or addr)
    assert normalise_address(text) == text
    assert normalise_address(str(addr).upper()) == text  # IPv6 hex digits in capitals
    assert normalise_address(f"  {addr}\n") == text
    assert to_network(text).num_addresses == 1


@settings(max_examples=300)
@given(networks())
def test_a_network_is_kept_as_the_same_network(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> None:
    text = normalise_address(str(net))
    assert normalise_address(text) == text
    back = to_network(text)
    if net.prefixlen == net.max_prefixlen:
        assert "/" not in text
    else:
        assert back == net
    for probe in (net.network_address, net.broadcast_address):
        assert parse_ip(str(probe)) in back or getattr(probe, "ipv4_mapped", None) is not None


@settings(max_examples=300)
@given(networks(), st.integers(1, 2**32))
def test_host_bits_are_refused_with_the_network_in_the_hint(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network, offset: int
) -> None:
    if net.num_addresses < 2:
        return
    host = net.network_address + (offset % (net.num_addresses - 1) + 1)
    try:
        normalise_address(f"{host}/{net.prefixlen}")
    except AccessError as e:
        assert e.hint is not None and str(net) in e.hint
    else:
        raise AssertionError("host bits were accepted")


@settings(max_examples=500)
@given(st.text(max_size=60) | st.from_regex(r"[0-9a-fA-F:./%]{0,50}", fullmatch=True))
def test_address_parser_raises_only_access_errors(text: str) -> None:
    try:
        out = normalise_address(text)
    except AccessError as e:
        assert e.message and e.hint
    else:
        assert normalise_address(out) == out
        to_network(out)


@settings(max_examples=300)
@given(st.binary(min_size=32, max_size=32), st.booleans(), st.booleans(), st.booleans())
def test_fingerprint_spellings_normalise_to_lowercase_hex(
    digest: bytes, upper: bool, colons: bool, prefixed: bool
) -> None:
    hex_ = digest.hex()
    text = hex_.upper() if upper else hex_
    if colons:
        text = ":".join(text[i : i + 2] for i in range(0, 64, 2))
    if prefixed:
        text = "SHA256 Fingerprint=" + text
    assert normalise_fingerprint(f" {text} ") == hex_


@settings(max_examples=500)
@given(st.text(max_size=120) | st.from_regex(r"[0-9a-fA-F:]{60,100}", fullmatch=True))
def test_fingerprint_parser_raises_only_access_errors(text: str) -> None:
    try:
        out = normalise_fingerprint(text)
    except AccessError as e:
        assert e.message and e.hint
    else:
        assert len(out) == 64 and set(out) <= set("0123456789abcdef")
        assert normalise_fingerprint(out) == out
