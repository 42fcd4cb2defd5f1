"""Golden encodings through our dictionary (pyrad): tagged tunnel attributes, every vendor
file's VSAs (RFC 2865 5.26 layout), integer and string types."""

from __future__ import annotations

import pytest

from radius_server.protocol.dictionary import encode_attribute
from radius_server.protocol.errors import EncodeError


@pytest.mark.parametrize(
    ("name", "value", "tag", "wire"),
    [
        # RFC 2868 3.1: tagged integers are Tag(1) + 24-bit value.
        ("Tunnel-Type", "VLAN", 1, (64, "01 00000d")),
        ("Tunnel-Medium-Type", "IEEE-802", 1, (65, "01 000006")),
        ("Tunnel-Type", "VLAN", 0, (64, "00 00000d")),
        # Tagged strings: the tag octet when set; none for tag 0 and a printable start.
        ("Tunnel-Private-Group-Id", "20", 1, (81, "01 3230")),
        ("Tunnel-Private-Group-Id", "20", 0, (81, "3230")),
        ("Idle-Timeout", 900, 0, (28, "00000384")),
        ("Filter-Id", "members", 0, (11, "6d656d62657273")),
        # VSAs: Vendor-Id(4) Vendor-Type(1) Vendor-Length(1) value.
        ("WISPr-Bandwidth-Max-Down", 10_000_000, 0, (26, "0000372a 08 06 00989680")),
        ("Mikrotik-Rate-Limit", "2M/10M", 0, (26, "00003a8c 08 08 324d2f31304d")),
        ("Mikrotik-Wireless-VLANID", 20, 0, (26, "00003a8c 1a 06 00000014")),
        ("Aruba-User-Role", "guest", 0, (26, "000039e7 01 07 6775657374")),
        ("Cisco-AVPair", "a=b", 0, (26, "00000009 01 05 613d62")),
        ("Airespace-Interface-Name", "staff", 0, (26, "00003763 05 07 7374616666")),
        (
            "Airespace-Data-Bandwidth-Average-Contract-Upstream",
            512,
            0,
            (26, "00003763 0d 06 00000200"),
        ),
        ("Ruckus-User-Groups", "vip", 0, (26, "000061dd 01 05 766970")),
    ],
)
def test_golden(name: str, value: str | int, tag: int, wire: tuple[int, str]) -> None:
    assert encode_attribute(name, value, tag=tag) == (wire[0], bytes.fromhex(wire[1]))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Airespace-QOS-Level", "Diamond"),
        ("Idle-Timeout", 2**32),
        ("Cisco-AVPair", "x" * 248),
    ],
)
def test_refused(name: str, value: str | int) -> None:
    with pytest.raises(EncodeError):
        encode_attribute(name, value)
