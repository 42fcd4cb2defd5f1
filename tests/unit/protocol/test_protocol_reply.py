"""Reply encoding, checked by our verify_reply and independently by pyrad."""

from __future__ import annotations

import hashlib

import pytest
from pyrad.packet import AuthPacket, Packet

from radius_server.protocol import (
    Code,
    EncodeError,
    decode_request,
    eap_message_attributes,
    encode_accounting_request,
    encode_attribute,
    encode_reply,
    encode_request,
    encode_status_server,
    integer_attribute,
    ipaddr_attribute,
    load_dictionary,
    ms_mppe_key_attributes,
    salt_decrypt,
    salt_encrypt,
    string_attribute,
    tunnel_password_attribute,
    vendor_attribute,
    verify_reply,
    vlan_attributes,
)
from radius_server.protocol import codes as c
from tests.unit.protocol.protocol_samples import (
    FIXED_AUTHENTICATOR,
    PIN,
    RFC2865_7_1_ACCEPT,
    RFC2865_7_1_REQUEST,
    RFC5997_ACCEPT,
    RFC5997_STATUS_SERVER,
    RFC_SECRET,
    SECRET,
    pap_request,
)


def with_proxy_states(packet: bytes, states: list[bytes], secret: bytes = SECRET) -> bytes:
    """Re-sign a request built by encode_request after appending Proxy-States."""
    request = decode_request(packet)
    extra = [(c.PROXY_STATE, s) for s in states]
    attrs = [a for a in request.attributes if a[0] not in (c.MESSAGE_AUTHENTICATOR,)]
    user_name = attrs.pop(0)
    password = attrs.pop(0)
    assert user_name[0] == c.USER_NAME and password[0] == c.USER_PASSWORD
    # Rebuild: encode_request re-encrypts, so decrypt the PIN first.
    return encode_request(
        secret,
        identifier=request.identifier,
        user_name=user_name[1].decode(),
        password=PIN,
        authenticator=request.authenticator,
        attributes=[*attrs, *extra],
    ).packet


def pyrad_verifies(request_bytes: bytes, reply_bytes: bytes, secret: bytes) -> bool:
    """pyrad's own check: Response Authenticator, Message-Authenticator, Proxy-State."""
    d = load_dictionary()
    request = AuthPacket(packet=request_bytes, secret=secret, dict=d)
    reply = request.CreateReply(packet=reply_bytes)
    return bool(request.VerifyReply(reply, reply_bytes, enforce_ma=True))


def test_rfc2865_7_1_accept_reproduced_byte_for_byte() -> None:
    request = decode_request(RFC2865_7_1_REQUEST)
    reply = encode_reply(
        request,
        Code.ACCESS_ACCEPT,
        RFC_SECRET,
        [
            integer_attribute(c.SERVICE_TYPE, 1),
            integer_attribute(15, 0),  # Login-Service = Telnet
            ipaddr_attribute(14, "192.168.1.3"),  # Login-IP-Host
        ],
        message_authenticator=False,  # the 1997 example predates BlastRADIUS
    )
    assert reply == RFC2865_7_1_ACCEPT
    assert verify_reply(
        RFC2865_7_1_ACCEPT, request.authenticator, RFC_SECRET, require_message_authenticator=False
    )
    assert not verify_reply(RFC2865_7_1_ACCEPT, request.authenticator, RFC_SECRET)


def test_rfc5997_accept_verifies() -> None:
    request = decode_request(RFC5997_STATUS_SERVER)
    assert verify_reply(
        RFC5997_ACCEPT,
        request.authenticator,
        RFC_SECRET,
        identifier=request.identifier,
        require_message_authenticator=False,
    )


@pytest.mark.parametrize("code", [Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE])
def test_access_reply_has_message_authenticator_first_and_proxy_states_last(code: Code) -> None:
    raw_request = with_proxy_states(pap_request(), [b"proxy-1", b"proxy-2", b"proxy-1"])
    request = decode_request(raw_request)
    assert request.proxy_states == (b"proxy-1", b"proxy-2", b"proxy-1")
    attrs = [integer_attribute(c.SESSION_TIMEOUT, 3600), string_attribute(c.REPLY_MESSAGE, "hi")]
    reply = encode_reply(request, code, SECRET, attrs)

    decoded = decode_request(reply)
    types = [t for t, _ in decoded.attributes]
    assert (
        types == [c.MESSAGE_AUTHENTICATOR, c.SESSION_TIMEOUT, c.REPLY_MESSAGE] + [c.PROXY_STATE] * 3
    )
    assert decoded.proxy_states == request.proxy_states
    assert decoded.code == code and decoded.identifier == request.identifier

    assert verify_reply(reply, request.authenticator, SECRET, identifier=request.identifier)
    assert not verify_reply(reply, request.authenticator, b"wrong")
    assert not verify_reply(reply, bytes(16), SECRET)
    assert not verify_reply(reply, request.authenticator, SECRET, identifier=99)
    assert pyrad_verifies(raw_request, reply, SECRET)


def test_reply_without_message_authenticator_fails_enforcing_checks() -> None:
    request = decode_request(pap_request())
    reply = encode_reply(request, Code.ACCESS_ACCEPT, SECRET, message_authenticator=False)
    assert not verify_reply(reply, request.authenticator, SECRET)
    assert verify_reply(reply, request.authenticator, SECRET, require_message_authenticator=False)
    assert not pyrad_verifies(pap_request(), reply, SECRET)


@pytest.mark.parametrize("index", [1, 4, 19, 22, 30, -1])
def test_tampered_reply_fails(index: int) -> None:
    request = decode_request(pap_request())
    reply = encode_reply(request, Code.ACCESS_ACCEPT, SECRET, [(c.CLASS, b"abc")])
    i = index if index >= 0 else len(reply) - 1
    tampered = reply[:i] + bytes((reply[i] ^ 0x80,)) + reply[i + 1 :]
    assert not verify_reply(tampered, request.authenticator, SECRET)


def test_status_server_reply() -> None:
    sent = encode_status_server(SECRET, identifier=200)
    request = decode_request(sent.packet)
    reply = encode_reply(request, Code.ACCESS_ACCEPT, SECRET)
    assert reply[20] == c.MESSAGE_AUTHENTICATOR
    assert verify_reply(reply, sent.authenticator, SECRET, request_code=Code.STATUS_SERVER)
    pkt = AuthPacket(packet=sent.packet, secret=SECRET, dict=load_dictionary())
    assert pkt.verify_message_authenticator()


def test_status_server_accounting_response_uses_request_authenticator() -> None:
    sent = encode_status_server(SECRET, identifier=5)
    request = decode_request(sent.packet)
    reply = encode_reply(request, Code.ACCOUNTING_RESPONSE, SECRET)
    assert reply[20] == c.MESSAGE_AUTHENTICATOR  # RFC 5997 3
    assert verify_reply(reply, sent.authenticator, SECRET, request_code=Code.STATUS_SERVER)


def test_accounting_response() -> None:
    sent = encode_accounting_request(
        SECRET, identifier=11, attributes=[(c.ACCT_STATUS_TYPE, (2).to_bytes(4, "big"))]
    )
    request = decode_request(sent.packet)
    reply = encode_reply(request, Code.ACCOUNTING_RESPONSE, SECRET)
    assert len(reply) == 20  # no attributes, no Message-Authenticator by default
    expected = hashlib.md5(reply[:4] + sent.authenticator + SECRET).digest()  # noqa: S324 - RFC-mandated MD5
    assert reply[4:20] == expected
    assert verify_reply(reply, sent.authenticator, SECRET, request_code=Code.ACCOUNTING_REQUEST)
    signed = encode_reply(request, Code.ACCOUNTING_RESPONSE, SECRET, message_authenticator=True)
    assert verify_reply(signed, sent.authenticator, SECRET, request_code=Code.ACCOUNTING_REQUEST)


def test_encode_reply_refuses_bad_input() -> None:
    request = decode_request(pap_request())
    with pytest.raises(EncodeError):
        encode_reply(request, Code.ACCESS_ACCEPT, SECRET, [(c.CLASS, b"x" * 254)])
    with pytest.raises(EncodeError):
        encode_reply(request, Code.ACCESS_ACCEPT, SECRET, [(c.PROXY_STATE, b"x")])
    with pytest.raises(EncodeError):
        encode_reply(request, Code.ACCESS_ACCEPT, SECRET, [(c.MESSAGE_AUTHENTICATOR, bytes(16))])
    with pytest.raises(EncodeError):
        encode_reply(request, Code.ACCESS_ACCEPT, SECRET, [(c.CLASS, b"x" * 253)] * 17)


# --- EAP-Message splitting (RFC 3579 3.1) ------------------------------------------


def test_eap_message_split_into_consecutive_chunks() -> None:
    eap = bytes(range(256)) * 4  # 1024 octets
    attrs = eap_message_attributes(eap)
    assert [len(v) for _, v in attrs] == [253, 253, 253, 253, 12]
    request = decode_request(pap_request())
    reply = encode_reply(request, Code.ACCESS_CHALLENGE, SECRET, [*attrs, (c.STATE, b"s1")])
    decoded = decode_request(reply)
    assert decoded.eap_message == eap
    assert pyrad_verifies(pap_request(), reply, SECRET)
    assert eap_message_attributes(b"") == [(c.EAP_MESSAGE, b"")]


# --- Salt encryption (RFC 2548 2.4.2) and MS-MPPE keys ------------------------------


def _pyrad_reply_packet() -> Packet:
    pkt = Packet(code=2, secret=SECRET, authenticator=FIXED_AUTHENTICATOR, dict=load_dictionary())
    pkt.request_authenticator = FIXED_AUTHENTICATOR
    return pkt


@pytest.mark.parametrize("size", [0, 1, 15, 16, 32, 64, 239])
def test_salt_round_trip_and_pyrad_agree(size: int) -> None:
    key = bytes((i * 7) & 0xFF for i in range(size))
    ours = salt_encrypt(key, SECRET, FIXED_AUTHENTICATOR)
    assert ours[0] & 0x80  # RFC 2548: the salt's high bit is set
    assert (len(ours) - 2) % 16 == 0
    assert salt_decrypt(ours, SECRET, FIXED_AUTHENTICATOR) == key
    pyrad_packet = _pyrad_reply_packet()
    assert pyrad_packet.SaltDecrypt(ours) == key
    theirs = pyrad_packet.SaltCrypt(key)
    assert salt_decrypt(theirs, SECRET, FIXED_AUTHENTICATOR) == key


def test_salt_known_vector() -> None:
    # Fixed salt: the result is fully determined by RFC 2548 2.4.2.
    value = salt_encrypt(b"k" * 32, SECRET, FIXED_AUTHENTICATOR, salt=b"\x80\x01")
    plain = bytes((32,)) + b"k" * 32 + bytes(15)
    b1 = hashlib.md5(SECRET + FIXED_AUTHENTICATOR + b"\x80\x01").digest()  # noqa: S324 - RFC-mandated MD5
    c1 = bytes(p ^ k for p, k in zip(plain[:16], b1, strict=True))
    assert value[:2] == b"\x80\x01" and value[2:18] == c1
    with pytest.raises(EncodeError):
        salt_encrypt(b"k", SECRET, FIXED_AUTHENTICATOR, salt=b"\x00\x01")
    with pytest.raises(EncodeError):
        salt_encrypt(b"k" * 240, SECRET, FIXED_AUTHENTICATOR)


def test_ms_mppe_keys_decoded_by_pyrad() -> None:
    msk = bytes(range(64))
    recv_key, send_key = msk[:32], msk[32:]
    request = decode_request(pap_request())
    attrs = ms_mppe_key_attributes(send_key, recv_key, SECRET, request.authenticator)
    salts = {value[6:8] for _, value in attrs}  # after Vendor-Id(4), Type(1), Length(1)
    assert len(salts) == 2  # distinct salts within one packet
    reply = encode_reply(request, Code.ACCESS_ACCEPT, SECRET, attrs)
    assert pyrad_verifies(pap_request(), reply, SECRET)

    pyrad_request = AuthPacket(packet=pap_request(), secret=SECRET, dict=load_dictionary())
    pyrad_reply = pyrad_request.CreateReply(packet=reply)
    pyrad_reply.request_authenticator = request.authenticator
    assert pyrad_reply["MS-MPPE-Send-Key"] == [send_key]
    assert pyrad_reply["MS-MPPE-Recv-Key"] == [recv_key]
    ours = decode_request(reply)
    sent_send = ours.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY)
    assert sent_send is not None
    assert salt_decrypt(sent_send, SECRET, request.authenticator) == send_key


def test_tunnel_password_decoded_by_pyrad() -> None:
    t, value = tunnel_password_attribute(b"vpn-pass", SECRET, FIXED_AUTHENTICATOR, tag=1)
    assert t == c.TUNNEL_PASSWORD and value[0] == 1
    assert salt_decrypt(value[1:], SECRET, FIXED_AUTHENTICATOR) == b"vpn-pass"


# --- Attribute helpers and the dictionary -------------------------------------------


def test_dictionary_loads_with_pyrad() -> None:
    d = load_dictionary()
    assert load_dictionary() is d  # cached
    assert d.attributes["User-Password"].encrypt == 1
    assert d.attributes["Tunnel-Password"].encrypt == 2
    assert d.attributes["MS-MPPE-Send-Key"].encrypt == 2
    assert d.attributes["MS-MPPE-Recv-Key"].encrypt == 2
    assert d.attributes["EAP-Message"].type == "octets"
    assert d.attributes["Message-Authenticator"].type == "octets"
    for name in ("MS-CHAP2-Response", "MS-CHAP2-Success", "MS-CHAP-Challenge", "MS-CHAP-Error"):
        assert d.attributes[name].vendor == "Microsoft"
    assert d.vendors.GetForward("Aruba") == c.VENDOR_ARUBA


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Session-Timeout", 3600, (27, (3600).to_bytes(4, "big"))),
        ("Filter-Id", "members", (11, b"members")),
        ("Class", b"\x01\x02", (25, b"\x01\x02")),
        ("Class", "0x0102", (25, b"\x01\x02")),
        ("Framed-IP-Address", "10.0.0.5", (8, bytes([10, 0, 0, 5]))),
        ("Tunnel-Type", "VLAN", (64, b"\x00\x00\x00\x0d")),
        ("Tunnel-Medium-Type", "IEEE-802", (65, b"\x00\x00\x00\x06")),
        ("Tunnel-Private-Group-Id", "42", (81, b"42")),
        ("Acct-Interim-Interval", "600", (85, (600).to_bytes(4, "big"))),
        (
            "Mikrotik-Rate-Limit",
            "10M/10M",
            vendor_attribute(c.VENDOR_MIKROTIK, 8, b"10M/10M"),
        ),
        (
            "WISPr-Bandwidth-Max-Down",
            10_000_000,
            vendor_attribute(c.VENDOR_WISPR, 8, (10_000_000).to_bytes(4, "big")),
        ),
        ("Aruba-User-Role", "member", vendor_attribute(c.VENDOR_ARUBA, 1, b"member")),
    ],
)
def test_encode_attribute_by_name(name: str, value: str | int | bytes, expected: object) -> None:
    assert encode_attribute(name, value) == expected


def test_encode_attribute_tagged_and_errors() -> None:
    assert encode_attribute("Tunnel-Type", "VLAN", tag=1) == (64, b"\x01\x00\x00\x0d")
    assert encode_attribute("Tunnel-Private-Group-Id", "42", tag=1) == (81, b"\x0142")
    for name, value in [
        ("No-Such-Attribute", "x"),
        ("User-Password", "x"),  # encrypted: needs the request
        ("MS-MPPE-Send-Key", b"x"),
        ("Session-Timeout", "forever"),
        ("Session-Timeout", -1),
        ("Framed-IP-Address", "not-an-ip"),
        ("Filter-Id", "x" * 254),
        ("Aruba-User-Role", "x" * 248),
    ]:
        with pytest.raises(EncodeError):
            encode_attribute(name, value)


def test_vlan_attributes_match_dictionary_encoding() -> None:
    assert vlan_attributes(42) == [
        encode_attribute("Tunnel-Type", "VLAN"),
        encode_attribute("Tunnel-Medium-Type", "IEEE-802"),
        encode_attribute("Tunnel-Private-Group-Id", "42"),
    ]
    with pytest.raises(EncodeError):
        vlan_attributes(4095)


def test_eap_message_room_is_the_largest_packet_that_fits() -> None:
    """The inverse of eap_message_attributes, for every budget up to a full packet."""
    from radius_server.protocol.attributes import eap_message_room
    from radius_server.protocol.reply import attributes_size

    for octets in range(3, 4097):
        size = eap_message_room(octets)
        assert attributes_size(eap_message_attributes(bytes(size))) <= octets
        assert attributes_size(eap_message_attributes(bytes(size + 1))) > octets
    assert eap_message_room(2) == eap_message_room(-5) == 0


def test_access_reply_room_is_the_room_of_a_request_without_proxy_state() -> None:
    from radius_server.protocol.reply import ACCESS_REPLY_ROOM, reply_room

    request = decode_request(pap_request())
    for code in (Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE):
        assert reply_room(request, code) == ACCESS_REPLY_ROOM


def test_reply_room_counts_message_authenticator_and_proxy_states() -> None:
    from radius_server.protocol.reply import reply_room

    packet = with_proxy_states(pap_request(), [b"a" * 100, b"b" * 253])
    request = decode_request(packet)
    room = reply_room(request, Code.ACCESS_ACCEPT)
    assert room == 4096 - 20 - 18 - 102 - 255
    assert reply_room(request, Code.ACCOUNTING_RESPONSE) == room + 18
    filler = [(c.CLASS, b"x" * 253)] * (room // 255) + [(c.CLASS, b"y" * (room % 255 - 2))]
    assert len(encode_reply(request, Code.ACCESS_ACCEPT, SECRET, filler)) == 4096
    with pytest.raises(EncodeError):
        encode_reply(request, Code.ACCESS_ACCEPT, SECRET, [*filler, (c.CLASS, b"")])
