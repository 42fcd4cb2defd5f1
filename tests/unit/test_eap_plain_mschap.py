"""Plain (non-EAP) MS-CHAPv2 through the engine: RFC 2548 attributes in and out."""

from __future__ import annotations

import secrets

from radius_server.eap.plain_mschap import PlainMsChapHandler
from radius_server.protocol import codes as c
from radius_server.protocol import mschap
from radius_server.protocol.salt import salt_decrypt
from tests.unit.eap_support import EMAIL, PIN, SECRET, make_engine, member, send


def _attributes(pin: bytes, user: str = EMAIL, ident: int = 9):
    auth_challenge = secrets.token_bytes(16)
    peer_challenge = secrets.token_bytes(16)
    attrs = mschap.mschapv2_request_attributes(user, pin, auth_challenge, peer_challenge, ident)
    nt = mschap.generate_nt_response(auth_challenge, peer_challenge, user.encode(), pin)
    return attrs, auth_challenge, peer_challenge, nt


def test_right_pin_gets_success_and_mppe_keys() -> None:
    engine, log = make_engine({"mschap": PlainMsChapHandler()})
    attrs, auth_challenge, peer_challenge, nt = _attributes(PIN)
    reply, request_auth = send(engine, attrs)
    assert reply.code == c.Code.ACCESS_ACCEPT
    success = reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP2_SUCCESS)
    expected = mschap.generate_authenticator_response(
        PIN, nt, peer_challenge, auth_challenge, EMAIL.encode()
    )
    assert success == bytes((9,)) + expected
    send_key = salt_decrypt(
        reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY), SECRET, request_auth
    )
    recv_key = salt_decrypt(
        reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_RECV_KEY), SECRET, request_auth
    )
    # The client derives the mirror image: its receive key is our send key (RFC 3079 3.4).
    master = mschap.master_key(mschap.hash_nt_password_hash(mschap.nt_password_hash(PIN)), nt)
    assert send_key == mschap.asymmetric_start_key(master, 16, is_send=False, is_server=False)
    assert recv_key == mschap.asymmetric_start_key(master, 16, is_send=True, is_server=False)
    line = log.access()[-1]
    assert line["method"] == "mschapv2"
    assert line["user"] == EMAIL
    assert line["reason"] == "ok"


def test_wrong_pin_is_rejected_with_ms_chap_error_691() -> None:
    engine, log = make_engine({"mschap": PlainMsChapHandler()})
    attrs, *_ = _attributes(b"54321", ident=4)
    reply, _ = send(engine, attrs)
    assert reply.code == c.Code.ACCESS_REJECT
    error = reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP_ERROR)
    assert error is not None
    assert error[0] == 4
    assert error[1:].startswith(b"E=691 R=0 C=")
    assert reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY) is None
    assert log.access()[-1]["reason"] == "wrong_pin"


def test_disabled_member_and_unknown_user_are_rejected() -> None:
    engine, log = make_engine({"mschap": PlainMsChapHandler()}, [member(active=False)])
    attrs, *_ = _attributes(PIN)
    reply, _ = send(engine, attrs)
    assert reply.code == c.Code.ACCESS_REJECT
    assert log.access()[-1]["reason"] == "inactive"
    attrs, *_ = _attributes(PIN, user="nobody@example.org")
    reply, _ = send(engine, attrs)
    assert reply.code == c.Code.ACCESS_REJECT
    assert log.access()[-1]["reason"] == "unknown_user"


def test_short_response_is_rejected_as_malformed() -> None:
    engine, log = make_engine({"mschap": PlainMsChapHandler()})
    attrs, *_ = _attributes(PIN)
    attrs[2] = (attrs[2][0], attrs[2][1][:-1])
    # Fix the vendor length octet of the truncated sub-attribute.
    value = bytearray(attrs[2][1])
    value[5] -= 1
    attrs[2] = (attrs[2][0], bytes(value))
    reply, _ = send(engine, attrs)
    assert reply.code == c.Code.ACCESS_REJECT
    assert log.access()[-1]["reason"] == "malformed"
