"""Encode replies to received requests in one pass.

Layout of every Access-Accept/Reject/Challenge we send (and of replies to
Status-Server): Message-Authenticator first, then the given attributes, then
every Proxy-State of the request in order. Message-Authenticator first is the
BlastRADIUS (CVE-2024-3596) countermeasure; Proxy-State last and unchanged is
RFC 2865 5.33.
"""

from __future__ import annotations

from collections.abc import Iterable

from radius_server.protocol import codes as c
from radius_server.protocol.authenticator import (
    MA_PLACEHOLDER,
    ZERO_AUTHENTICATOR,
)
from radius_server.protocol.digest import hmac_md5
from radius_server.protocol.digest import new_md5 as _md5
from radius_server.protocol.errors import EncodeError
from radius_server.protocol.packet import Attribute, RadiusRequest

# Type and Length of the Message-Authenticator that opens every signed reply.
_MA_HEAD = MA_PLACEHOLDER[:2]
_RESERVED = frozenset({c.PROXY_STATE, c.MESSAGE_AUTHENTICATOR})
# Module constants, not ``c.X``: encode_reply runs once per answered request.
_MAX_VALUE = c.MAX_ATTRIBUTE_VALUE_LENGTH
_HEADER_LENGTH = c.HEADER_LENGTH
_MAX_PACKET = c.MAX_PACKET_LENGTH
_PROXY_STATE = c.PROXY_STATE
_ACCESS_REPLIES = frozenset(int(code) for code in c.ACCESS_REPLY_CODES)
_STATUS_SERVER = int(c.Code.STATUS_SERVER)
_ACCOUNTING_RESPONSE = int(c.Code.ACCOUNTING_RESPONSE)


def _wants_message_authenticator(request_code: int, reply_code: int) -> bool:
    return reply_code in _ACCESS_REPLIES or request_code == _STATUS_SERVER


def attributes_size(attributes: Iterable[Attribute]) -> int:
    """Octets ``attributes`` take in a packet: a 2-octet header each, then the value."""
    return sum(2 + len(value) for _, value in attributes)


def reply_room(request: RadiusRequest, code: int) -> int:
    """Octets left for the attributes of a reply of ``code``; negative when none fit.

    4096 (RFC 2865 3) less the header, the Message-Authenticator that
    :func:`encode_reply` puts first, and every Proxy-State of the request, which
    must be echoed (RFC 2865 5.33): a chain of proxies can take most of the packet.
    """
    used = c.HEADER_LENGTH
    if request.proxy_states:
        used += attributes_size((c.PROXY_STATE, value) for value in request.proxy_states)
    if _wants_message_authenticator(request.code, code):
        used += len(MA_PLACEHOLDER)
    return c.MAX_PACKET_LENGTH - used


# reply_room of an Access-* reply to a request without Proxy-State (the common case).
ACCESS_REPLY_ROOM = c.MAX_PACKET_LENGTH - c.HEADER_LENGTH - len(MA_PLACEHOLDER)


def encode_reply(
    request: RadiusRequest,
    code: int,
    secret: bytes,
    attributes: Iterable[Attribute] = (),
    *,
    message_authenticator: bool | None = None,
) -> bytes:
    """Build the reply datagram to ``request``.

    Args:
        request: the decoded request (identifier, authenticator, Proxy-States).
        code: reply code, e.g. ``Code.ACCESS_ACCEPT``.
        secret: the client's shared secret.
        attributes: ``(type, value)`` pairs, each value at most 253 octets, in
            the order to send (EAP-Message pieces consecutive). Proxy-State and
            Message-Authenticator are added here and must not be passed.
        message_authenticator: default on for Access-* replies and replies to
            Status-Server (RFC 5997 3), off for Accounting-Response.

    The Message-Authenticator is an HMAC-MD5 over the reply with the Request
    Authenticator in the Authenticator field (RFC 3579 3.2; zeros for an
    Accounting-Response to an Accounting-Request, which no RFC defines: we
    follow FreeRADIUS and pyrad), computed before the Response Authenticator
    MD5(Code+ID+Length+RequestAuth+Attributes+Secret) (RFC 2865 3), which covers it.

    Raises:
        EncodeError: value too long, reserved attribute passed, reply over 4096 octets.
    """
    request_code = request.code
    if message_authenticator is None:
        message_authenticator = code in _ACCESS_REPLIES or request_code == _STATUS_SERVER
    parts: list[bytes] = [MA_PLACEHOLDER] if message_authenticator else []
    append = parts.append
    for attr_type, value in attributes:
        size = len(value)
        if size > _MAX_VALUE:
            raise EncodeError("attribute value longer than 253 octets")
        if attr_type in _RESERVED:
            raise EncodeError("Proxy-State and Message-Authenticator are added by encode_reply")
        append(bytes((attr_type, size + 2)))
        append(value)
    for proxy_state in request.proxy_states:
        append(bytes((_PROXY_STATE, len(proxy_state) + 2)))
        append(proxy_state)
    body = b"".join(parts)
    length = _HEADER_LENGTH + len(body)
    if length > _MAX_PACKET:
        raise EncodeError("reply longer than 4096 octets")
    header = bytes((code, request.identifier, length >> 8, length & 0xFF))
    request_authenticator = request.authenticator
    if message_authenticator:
        vector = (
            ZERO_AUTHENTICATOR
            if code == _ACCOUNTING_RESPONSE and request_code != _STATUS_SERVER
            else request_authenticator
        )
        # sign_leading_message_authenticator(header, vector, body, secret), inline:
        # RFC 3579 3.2, the HMAC over the packet with the value still zero.
        body = _MA_HEAD + hmac_md5(secret, header + vector + body) + body[18:]
    # response_authenticator(header, request_authenticator, body, secret), inline.
    response = _md5(header + request_authenticator + body + secret).digest()
    return header + response + body
