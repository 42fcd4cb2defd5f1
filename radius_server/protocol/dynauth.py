"""Dynamic Authorization client side (RFC 5176): Disconnect- and CoA-Requests we send.

We are the Dynamic Authorization Client; the access point is the Server (DAS).
Pure wire code: the caller gives the clock, the identifier and the secret; the
sockets live in :mod:`radius_server.runtime.dynauth`.

- A request's Request Authenticator is an MD5 over the packet itself, as for an
  Accounting-Request (RFC 5176 2.3, RFC 2866 3). We always add a
  Message-Authenticator (first), computed before it with 16 zero octets in the
  Authenticator field (RFC 5176 3.4); hostapd's ``radius_das_require_message_authenticator``
  insists on one, and checks it exactly that way.
- A reply's Response Authenticator is MD5(Code+ID+Length+RequestAuth+Attributes+Secret)
  and its Message-Authenticator, when present, is computed over the reply with our
  Request Authenticator in the Authenticator field (RFC 5176 3.4), as hostapd signs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, ip_address
from typing import Final

from radius_server.protocol import codes as c
from radius_server.protocol.attributes import integer_attribute, string_attribute
from radius_server.protocol.client import encode_hashed_request, verify_reply
from radius_server.protocol.errors import EncodeError, MalformedPacket
from radius_server.protocol.packet import Attribute, decode_request

# What answers what (RFC 5176 2.1, 2.2): a request code to its (ACK, NAK) codes.
REPLY_CODES: Final[dict[int, tuple[int, int]]] = {
    c.Code.DISCONNECT_REQUEST: (c.Code.DISCONNECT_ACK, c.Code.DISCONNECT_NAK),
    c.Code.COA_REQUEST: (c.Code.COA_ACK, c.Code.COA_NAK),
}
_ACK_CODES = frozenset(ack for ack, _ in REPLY_CODES.values())
# A reply code to the request code it answers.
_ANSWERS = {reply: request for request, codes in REPLY_CODES.items() for reply in codes}

# RFC 5176 3.5, spelled as the VALUE names of dictionaries/dictionary.rfc5176
# (and FreeRADIUS's), so a log line reads the same as a packet dump.
ERROR_CAUSE_NAMES: Final[dict[int, str]] = {
    201: "Residual-Context-Removed",
    202: "Invalid-EAP-Packet",
    401: "Unsupported-Attribute",
    402: "Missing-Attribute",
    403: "NAS-Identification-Mismatch",
    404: "Invalid-Request",
    405: "Unsupported-Service",
    406: "Unsupported-Extension",
    407: "Invalid-Attribute-Value",
    501: "Administratively-Prohibited",
    502: "Request-Not-Routable",
    503: "Session-Context-Not-Found",
    504: "Session-Context-Not-Removable",
    505: "Other-Proxy-Processing-Error",
    506: "Resources-Unavailable",
    507: "Request-Initiated",
    508: "Multiple-Session-Selection-Unsupported",
}
SESSION_CONTEXT_NOT_FOUND: Final = 503

# Added by encode_request itself; a second copy would make the packet ambiguous.
_RESERVED = frozenset({c.MESSAGE_AUTHENTICATOR})

CHARGEABLE_USER_IDENTITY: Final = 89  # RFC 4372
# What a CoA-Request's new authorization may not carry (RFC 5176 3.6 table: 0 in a
# CoA-Request; the identification attributes name the session, from the accounting,
# and one more copy of them would select another or no session (RFC 5176 3);
# Event-Timestamp and Message-Authenticator are added once, by us).
_NOT_AUTHORIZATION: Final = frozenset(
    {
        c.USER_NAME,
        c.USER_PASSWORD,
        c.CHAP_PASSWORD,
        c.NAS_IP_ADDRESS,
        c.NAS_IDENTIFIER,
        c.NAS_IPV6_ADDRESS,
        c.CALLING_STATION_ID,
        c.ACCT_SESSION_ID,
        c.ACCT_MULTI_SESSION_ID,
        CHARGEABLE_USER_IDENTITY,
        c.EVENT_TIMESTAMP,
        c.CHAP_CHALLENGE,
        c.MESSAGE_AUTHENTICATOR,
        c.ERROR_CAUSE,
    }
)


class ReplyKind(StrEnum):
    """What the access point answered."""

    ACK = "ack"
    NAK = "nak"


class Refusal(StrEnum):
    """Why a datagram is not the reply to our request; values double as log details."""

    MALFORMED = "malformed"
    WRONG_IDENTIFIER = "wrong_identifier"
    UNEXPECTED_CODE = "unexpected_code"
    BAD_AUTHENTICATOR = "bad_authenticator"
    MISSING_MESSAGE_AUTHENTICATOR = "missing_message_authenticator"


@dataclass(frozen=True, slots=True)
class DynAuthReply:
    """A verified Disconnect-/CoA-ACK or -NAK.

    ``error_cause`` is the first Error-Cause (RFC 5176 3.5), None when absent or not
    four octets; ``error_name`` its name, None when absent or not a value RFC 5176
    defines. ``attributes`` keeps every attribute in order, values undecoded.
    """

    kind: ReplyKind
    code: int
    identifier: int
    error_cause: int | None
    error_name: str | None
    attributes: tuple[Attribute, ...]

    @property
    def acked(self) -> bool:
        """True for an ACK."""
        return self.kind is ReplyKind.ACK


def error_cause_name(value: int) -> str | None:
    """The RFC 5176 3.5 name of an Error-Cause value, e.g. 503 -> Session-Context-Not-Found."""
    return ERROR_CAUSE_NAMES.get(value)


def encode_request(
    code: int, identifier: int, secret: bytes, attributes: Sequence[Attribute]
) -> bytes:
    """Build a Disconnect-Request or CoA-Request, ready to send (and to resend as is).

    Args:
        code: ``Code.DISCONNECT_REQUEST`` or ``Code.COA_REQUEST``.
        identifier: 0..255; a new one for each new request (RFC 5176 2.3), the
            same one for a retransmission.
        secret: the access point's dynamic-authorization secret.
        attributes: ``(type, value)`` pairs in the order to send, Event-Timestamp
            included (the caller owns the clock; see :func:`session_attributes`).
            Message-Authenticator is added here, first, and must not be passed.

    The Request Authenticator is ``packet[4:20]``: keep it to check the reply
    (:func:`decode_response`).

    Raises:
        EncodeError: another code, identifier out of range, a reserved attribute,
            a value over 253 octets, a packet over 4096 octets.
    """
    if code not in REPLY_CODES:
        raise EncodeError("not a Disconnect-Request or CoA-Request code")
    if any(attr_type in _RESERVED for attr_type, _ in attributes):
        raise EncodeError("Message-Authenticator is added by encode_request")
    return encode_hashed_request(
        code,
        secret,
        identifier=identifier,
        attributes=attributes,
        message_authenticator=True,
    ).packet


def session_attributes(
    *,
    now: float,
    user_name: str | None = None,
    acct_session_id: str | None = None,
    calling_station_id: str | None = None,
    nas_ip_address: str | None = None,
    nas_identifier: str | None = None,
) -> list[Attribute]:
    """The attributes that name one session to its access point, plus Event-Timestamp.

    Pass the values exactly as the NAS sent them in its accounting (hostapd
    compares Acct-Session-Id and User-Name byte for byte, and answers a
    NAS-Identifier or NAS-IP-Address it does not own with a NAK, Error-Cause 403);
    a value that is None or empty is left out. Only attributes hostapd's DAS
    accepts in a Disconnect-Request are offered: it refuses, for instance,
    NAS-Port with Error-Cause 401 (Unsupported-Attribute).

    Args:
        now: wall-clock seconds since the epoch, for Event-Timestamp (RFC 5176 3,
            replay protection; DASes drop a request outside their time window).
        user_name, acct_session_id, calling_station_id: session identification
            (RFC 5176 3).
        nas_ip_address, nas_identifier: NAS identification (RFC 5176 3). The
            address as text, either family: an IPv4 address goes out as
            NAS-IP-Address, an IPv6 one as NAS-IPv6-Address (RFC 3162 2.1), the
            attribute it came in (``sessions.nas_ip_address`` holds either).

    Raises:
        EncodeError: an address that does not parse, a value over 253 octets.
    """
    attrs: list[Attribute] = []
    for attr_type, text in (
        (c.USER_NAME, user_name),
        (c.ACCT_SESSION_ID, acct_session_id),
        (c.CALLING_STATION_ID, calling_station_id),
        (c.NAS_IDENTIFIER, nas_identifier),
    ):
        if text:
            attrs.append(string_attribute(attr_type, text))
    if nas_ip_address:
        try:
            address = ip_address(nas_ip_address)
        except ValueError:
            raise EncodeError("NAS-IP-Address is not an IP address") from None
        kind = c.NAS_IP_ADDRESS if isinstance(address, IPv4Address) else c.NAS_IPV6_ADDRESS
        attrs.append((kind, address.packed))
    attrs.append(integer_attribute(c.EVENT_TIMESTAMP, int(now)))
    return attrs


def coa_attributes(
    identification: Sequence[Attribute], authorization: Sequence[Attribute]
) -> list[Attribute]:
    """A CoA-Request's attributes: the session, then its new authorization (RFC 5176 3.3).

    Args:
        identification: what :func:`session_attributes` returns for the session
            (its last attribute, Event-Timestamp, stays last).
        authorization: the attributes the session should have from now on, as an
            Access-Accept would carry them (Session-Timeout, tunnel attributes,
            vendor attributes...), pre-encoded ``(type, value)`` pairs.

    A DAS applies the CoA-Request's attributes to the session it names, so the
    authorization may not name a session itself, nor carry what a CoA-Request
    never does (User-Password, Error-Cause...): those raise.

    Raises:
        EncodeError: an attribute the authorization may not carry (named by
            number, never by value), or an empty authorization (a CoA-Request
            changing nothing is refused by DASes with Error-Cause 402).
    """
    if not authorization:
        raise EncodeError("a CoA-Request needs at least one authorization attribute")
    for attr_type, _ in authorization:
        if attr_type in _NOT_AUTHORIZATION:
            raise EncodeError(
                f"attribute {attr_type} cannot be part of a CoA-Request's authorization"
            )
    head = list(identification)
    tail = [head.pop()] if head and head[-1][0] == c.EVENT_TIMESTAMP else []
    return [*head, *authorization, *tail]


def inspect_response(
    data: bytes,
    identifier: int,
    request_authenticator: bytes,
    secret: bytes,
    *,
    request_code: int | None = None,
    require_message_authenticator: bool = False,
) -> DynAuthReply | Refusal:
    """Verify a datagram as the reply to our request; the reply, or why it is not one.

    Checks, in order: the framing (strictly, as every received packet), the
    Identifier, the code (an ACK or NAK, of the right family when ``request_code``
    is given), the Response Authenticator and the Message-Authenticator when
    present (both in constant time, :func:`~radius_server.protocol.client.verify_reply`),
    its presence when ``require_message_authenticator`` (RFC 5176 does not make it
    mandatory in replies; hostapd always sends one). Never raises on garbage.
    """
    try:
        reply = decode_request(data)
    except MalformedPacket:
        return Refusal.MALFORMED
    if reply.identifier != identifier:
        return Refusal.WRONG_IDENTIFIER
    answered = _ANSWERS.get(reply.code)
    if answered is None or (request_code is not None and answered != request_code):
        return Refusal.UNEXPECTED_CODE
    if not verify_reply(
        reply.raw,
        request_authenticator,
        secret,
        request_code=answered,
        require_message_authenticator=False,
    ):
        return Refusal.BAD_AUTHENTICATOR
    if require_message_authenticator and reply.message_authenticator is None:
        return Refusal.MISSING_MESSAGE_AUTHENTICATOR
    raw_cause = reply.get(c.ERROR_CAUSE)
    cause = int.from_bytes(raw_cause, "big") if raw_cause and len(raw_cause) == 4 else None
    return DynAuthReply(
        kind=ReplyKind.ACK if reply.code in _ACK_CODES else ReplyKind.NAK,
        code=reply.code,
        identifier=reply.identifier,
        error_cause=cause,
        error_name=None if cause is None else error_cause_name(cause),
        attributes=reply.attributes,
    )


def decode_response(
    data: bytes,
    identifier: int,
    request_authenticator: bytes,
    secret: bytes,
    *,
    request_code: int | None = None,
    require_message_authenticator: bool = False,
) -> DynAuthReply | None:
    """The verified ACK/NAK in ``data``, or None when it fails any check.

    See :func:`inspect_response` (which also says why) for the checks.
    """
    result = inspect_response(
        data,
        identifier,
        request_authenticator,
        secret,
        request_code=request_code,
        require_message_authenticator=require_message_authenticator,
    )
    return result if isinstance(result, DynAuthReply) else None
