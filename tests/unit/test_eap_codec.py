"""EAP packets, TLS framing (L/M/S) and TTLS AVPs; and the EAP core stays free of I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from radius_server.eap import avp, codec
from radius_server.eap.framing import (
    FLAG_LENGTH,
    FLAG_MORE,
    FLAG_START,
    FramingError,
    Outgoing,
    Reassembly,
    decode_frame,
    encode_frame,
)
from radius_server.protocol.attributes import eap_message_attributes

EAP_DIR = Path(__file__).resolve().parents[2] / "radius_server" / "eap"


def test_eap_round_trip_and_strictness() -> None:
    raw = codec.encode_eap(codec.EapCode.RESPONSE, 7, codec.EapType.IDENTITY, b"me")
    packet = codec.decode_eap(raw)
    assert (packet.code, packet.identifier, packet.type, packet.data) == (2, 7, 1, b"me")
    assert packet.encode() == raw
    assert codec.decode_eap(codec.success(9)) == codec.EapPacket(3, 9)
    for bad in (
        b"\x02\x01\x00",
        raw + b"\x00",
        raw[:-1],
        b"\x05\x01\x00\x05\x01",
        b"\x02\x01\x00\x04",
    ):
        with pytest.raises(codec.EapError):
            codec.decode_eap(bad)
    assert codec.next_identifier(255) == 0
    assert codec.nak_types(b"\x15\x00\x19") == [21, 25]


def test_long_eap_packets_split_at_253_octets_and_join_back() -> None:
    packet = codec.encode_eap(1, 1, 25, bytes(1000))
    pieces = eap_message_attributes(packet)
    assert [len(v) for _, v in pieces] == [253, 253, 253, 246]
    assert b"".join(v for _, v in pieces) == packet


def test_outgoing_fragments_carry_l_on_the_first_and_m_until_the_last() -> None:
    message = bytes(range(256)) * 4  # 1024 octets
    out = Outgoing(message)
    first = out.next_fragment(0, 400)
    assert first[0] == FLAG_LENGTH | FLAG_MORE
    assert int.from_bytes(first[1:5], "big") == 1024
    second = out.next_fragment(0, 400)
    assert second[0] == FLAG_MORE
    third = out.next_fragment(0, 400)
    assert third[0] == 0 and out.done
    assert first[5:] + second[1:] + third[1:] == message


def test_a_message_that_fits_goes_without_l() -> None:
    out = Outgoing(b"abc")
    assert out.next_fragment(0, 400) == b"\x00abc"
    assert out.done


def test_reassembly_joins_and_bounds() -> None:
    whole = Reassembly(limit=100)
    assert whole.add(decode_frame(encode_frame(FLAG_MORE, b"ab", total_length=4))) is None
    assert whole.in_progress
    assert whole.add(decode_frame(encode_frame(0, b"cd"))) == b"abcd"
    with pytest.raises(FramingError):
        Reassembly(limit=10).add(decode_frame(encode_frame(FLAG_MORE, b"x", total_length=11)))
    growing = Reassembly(limit=10)
    growing.add(decode_frame(encode_frame(FLAG_MORE, b"x" * 6)))
    with pytest.raises(FramingError):
        growing.add(decode_frame(encode_frame(FLAG_MORE, b"x" * 6)))
    short = Reassembly(limit=100)
    short.add(decode_frame(encode_frame(FLAG_MORE, b"xx", total_length=3)))
    with pytest.raises(FramingError):
        short.add(decode_frame(encode_frame(0, b"yy")))


def test_frame_flags() -> None:
    start = decode_frame(bytes((FLAG_START,)))
    assert (start.flags & FLAG_START and start.is_ack is False) or start.data == b""
    with pytest.raises(FramingError):
        decode_frame(b"")
    with pytest.raises(FramingError):
        decode_frame(bytes((FLAG_LENGTH, 0, 0)))
    assert decode_frame(b"\x01").version == 1


def test_avps_round_trip_with_padding_and_vendor() -> None:
    data = avp.encode_avp(1, b"ada") + avp.encode_avp(26, b"\x01" * 5, vendor=311)
    assert len(data) % 4 == 0
    decoded = avp.decode_avps(data)
    assert decoded == [avp.Avp(1, b"ada"), avp.Avp(26, b"\x01" * 5, 311)]
    with pytest.raises(avp.AvpError):
        avp.decode_avps(data[:-9])
    with pytest.raises(avp.AvpError):
        avp.decode_avps(b"\x00\x00\x00\x01\x40\x00\x00\x04")


def test_the_eap_core_does_no_io() -> None:
    """Pure like the protocol core: no sockets, asyncio, database or clock of its own."""
    forbidden = {"socket", "asyncio", "sqlalchemy", "time", "subprocess", "threading"}
    allowed_io = {"certificates.py", "setup.py"}  # start-up: read and write files
    for path in EAP_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
        if path.name not in allowed_io:
            assert "open(" not in path.read_text(), path.name
