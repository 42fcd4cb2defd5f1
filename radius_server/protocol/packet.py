"""Strict, single-pass decoding of received RADIUS packets.

pyrad decodes leniently and lazily (docs/architecture.md, Protocol pitfalls): an over-long last
attribute is truncated and accepted, duplicates pass, 8192-octet packets pass,
and each attribute read decodes again. Here one pass over the bytes (plain
indexing, cheaper than ``struct`` for one-octet fields) validates the framing
and fills every field the engine reads, so nothing downstream can meet a decoding error.

The decoder needs no shared secret: decoding is framing only. Authenticity is
checked afterwards by :mod:`radius_server.protocol.authenticator`.
"""

from __future__ import annotations

from ipaddress import IPv6Address
from typing import NamedTuple

from radius_server.protocol import codes as c
from radius_server.protocol.errors import MalformedPacket, MalformedReason

Attribute = tuple[int, bytes]
VendorAttribute = tuple[int, int, bytes]

# Attributes that may appear at most once (RFC 2865 5.44, RFC 2866 5.13, RFC 3579 3.3),
# with their (minimum, maximum) value lengths. Refusing duplicates keeps us and the
# NAS from disagreeing about which copy counts; only the attributes we read are listed.
# Lengths come from each attribute's "Length" line: exact for numbers and addresses
# (RFC 2865 5, 2866 5, 2869 5.14, 3162 2.1), CHAP-Password = Ident(1) + response(16)
# (RFC 2865 5.3), User-Name and State "Length >= 3" (5.1, 5.24), CHAP-Challenge
# "Length >= 7" (5.40). Text we only log may be empty: refusing it would gain nothing.
# An empty User-Name is the one exception: hostapd sends it when the device's EAP identity
# is empty, and RFC 2865 5 wants such a request answered with a reject, not dropped, so it
# is reported (``empty_user_name``) for the engine to answer once the request is authentic.
_ANY = (0, c.MAX_ATTRIBUTE_VALUE_LENGTH)
_SINGLE_VALUED: dict[int, tuple[int, int]] = {
    c.USER_NAME: (0, c.MAX_ATTRIBUTE_VALUE_LENGTH),
    c.USER_PASSWORD: _ANY,  # 16..128 in steps of 16, checked apart for its own reason
    c.CHAP_PASSWORD: (17, 17),
    c.NAS_IP_ADDRESS: (4, 4),
    c.NAS_PORT: (4, 4),
    c.SERVICE_TYPE: (4, 4),
    c.STATE: (1, c.MAX_ATTRIBUTE_VALUE_LENGTH),
    c.CALLED_STATION_ID: _ANY,
    c.CALLING_STATION_ID: _ANY,
    c.NAS_IDENTIFIER: _ANY,
    c.ACCT_STATUS_TYPE: (4, 4),
    c.ACCT_SESSION_ID: _ANY,
    c.CHAP_CHALLENGE: (5, c.MAX_ATTRIBUTE_VALUE_LENGTH),
    c.NAS_PORT_TYPE: (4, 4),
    c.MESSAGE_AUTHENTICATOR: (16, 16),
    c.NAS_IPV6_ADDRESS: (16, 16),
}

# The same, for the decoding loop: indexed by type (a list index costs less than a dict
# call), None for the others; bounds on the whole attribute (its Length octet), () when
# any Length passes (2..255 always holds).
_SINGLE_SLOTS = max(_SINGLE_VALUED) + 1
_SINGLE_BOUNDS: list[tuple[int, ...] | None] = [None] * 256
for _type, (_low, _high) in _SINGLE_VALUED.items():
    _SINGLE_BOUNDS[_type] = () if _low + 2 <= 2 and _high + 2 >= 255 else (_low + 2, _high + 2)
del _type, _low, _high

# Microsoft attributes the MS-CHAP code reads; a duplicate would be ambiguous.
_MS_SINGLE_VALUED = frozenset({c.MS_CHAP_RESPONSE, c.MS_CHAP_CHALLENGE, c.MS_CHAP2_RESPONSE})

# Module constants, not ``c.X``: the decoding loop reads them for every attribute.
_EAP_MESSAGE = c.EAP_MESSAGE
_MESSAGE_AUTHENTICATOR = c.MESSAGE_AUTHENTICATOR
_PROXY_STATE = c.PROXY_STATE
_VENDOR_SPECIFIC = c.VENDOR_SPECIFIC

_USER_NAME = c.USER_NAME
_USER_PASSWORD = c.USER_PASSWORD
_CHAP_PASSWORD = c.CHAP_PASSWORD
_CHAP_CHALLENGE = c.CHAP_CHALLENGE
_NAS_IP_ADDRESS = c.NAS_IP_ADDRESS
_NAS_IPV6_ADDRESS = c.NAS_IPV6_ADDRESS
_NAS_IDENTIFIER = c.NAS_IDENTIFIER
_NAS_PORT = c.NAS_PORT
_NAS_PORT_TYPE = c.NAS_PORT_TYPE
_SERVICE_TYPE = c.SERVICE_TYPE
_CALLED_STATION_ID = c.CALLED_STATION_ID
_CALLING_STATION_ID = c.CALLING_STATION_ID
_STATE = c.STATE
_ACCT_STATUS_TYPE = c.ACCT_STATUS_TYPE
_ACCT_SESSION_ID = c.ACCT_SESSION_ID
_new_tuple = tuple.__new__

_MALFORMED_TRUNCATED = MalformedReason.TRUNCATED
_ATTR_LEN = MalformedReason.BAD_ATTRIBUTE_LENGTH


class RadiusRequest(NamedTuple):
    """A decoded RADIUS packet (requests; replies decode the same way).

    A named tuple: immutable like a frozen dataclass, and built once per request
    for a fraction of the cost (a frozen dataclass sets each of its 25 fields
    through ``object.__setattr__``).

    ``raw`` is the packet up to its Length field (padding beyond it is ignored,
    RFC 2865 3); the authenticator checks work on it. ``attributes`` keeps every
    attribute, in order, with undecoded values. The named fields are filled
    from the attributes of the same name, ``None`` when absent.
    """

    code: int
    identifier: int
    authenticator: bytes
    raw: bytes
    attributes: tuple[Attribute, ...]
    user_name: str | None = None
    user_password: bytes | None = None  # still hidden (RFC 2865 5.2); see pap.py
    chap_password: bytes | None = None  # 17 octets: CHAP Ident + response
    chap_challenge: bytes | None = None
    nas_ip_address: str | None = None  # dotted quad
    nas_ipv6_address: str | None = None
    nas_identifier: str | None = None
    nas_port: int | None = None
    nas_port_type: int | None = None
    service_type: int | None = None
    called_station_id: str | None = None
    calling_station_id: str | None = None
    state: bytes | None = None
    proxy_states: tuple[bytes, ...] = ()
    # Consecutive EAP-Message values joined (RFC 3579 3.1); b"" is an EAP-Start.
    eap_message: bytes | None = None
    message_authenticator: bytes | None = None
    # Offset of the Message-Authenticator value inside ``raw``, to zero it for the HMAC.
    message_authenticator_offset: int | None = None
    # RFC 2865 5.26 sub-attributes: (vendor id, vendor type, value).
    vendor_attributes: tuple[VendorAttribute, ...] = ()
    acct_status_type: int | None = None
    acct_session_id: str | None = None
    # A User-Name of length 2 (no text; RFC 2865 5.1 wants >= 3): ``user_name`` stays None.
    empty_user_name: bool = False

    def get(self, attribute_type: int) -> bytes | None:
        """Return the value of the first attribute of ``attribute_type``, or None."""
        for attr_type, value in self.attributes:
            if attr_type == attribute_type:
                return value
        return None

    def get_all(self, attribute_type: int) -> list[bytes]:
        """Return the values of every attribute of ``attribute_type``, in order."""
        return [value for attr_type, value in self.attributes if attr_type == attribute_type]

    def vendor_attribute(self, vendor_id: int, vendor_type: int) -> bytes | None:
        """Return the first vendor sub-attribute value with these numbers, or None."""
        for vid, vtype, value in self.vendor_attributes:
            if vid == vendor_id and vtype == vendor_type:
                return value
        return None


def decode_request(data: bytes) -> RadiusRequest:
    """Decode and validate one received datagram.

    Checks the framing strictly (RFC 2865 3 and 5): 20 <= Length <= 4096, a
    datagram shorter than its Length field is refused and octets beyond it are
    ignored, every attribute Length >= 2 and inside the packet, fixed-length
    attributes of the right size, single-valued attributes not duplicated,
    User-Password 16..128 octets in steps of 16, User-Name valid UTF-8 (an
    empty one is reported by ``empty_user_name``, see ``_SINGLE_VALUED``).

    Raises:
        MalformedPacket: with a :class:`MalformedReason`; never with packet bytes.
    """
    size = len(data)
    if size < c.HEADER_LENGTH:
        raise MalformedPacket(_MALFORMED_TRUNCATED)
    length = (data[2] << 8) | data[3]
    if length < c.HEADER_LENGTH:
        raise MalformedPacket(MalformedReason.BAD_LENGTH)
    if length > c.MAX_PACKET_LENGTH:
        raise MalformedPacket(MalformedReason.TOO_LONG)
    if size < length:
        # RFC 2865 3: "If the packet is shorter than the Length field indicates, it MUST be
        # silently discarded."
        raise MalformedPacket(_MALFORMED_TRUNCATED)
    raw = bytes(data[:length]) if size > length else bytes(data)

    attributes: list[Attribute] = []
    append = attributes.append
    # The single-valued attributes' values, indexed by type (None: absent).
    singles: list[bytes | None] = [None] * _SINGLE_SLOTS
    proxy_states: list[bytes] = []
    eap_parts: list[bytes] | None = None
    eap_at = -1  # the index in ``attributes`` of the last EAP-Message part
    vsas: list[bytes] = []
    ma_offset: int | None = None

    single_bounds = _SINGLE_BOUNDS
    pos = c.HEADER_LENGTH
    # The loop reads each attribute's two header octets unchecked: an index past the
    # end (a Length that stops one octet into an attribute header) is caught below.
    try:
        while pos < length:
            attr_type = raw[pos]
            attr_len = raw[pos + 1]
            end = pos + attr_len
            if attr_len < 2 or end > length:
                raise MalformedPacket(_ATTR_LEN)
            value = raw[pos + 2 : end]
            bounds = single_bounds[attr_type]
            if bounds is not None:
                if singles[attr_type] is not None:
                    raise MalformedPacket(MalformedReason.DUPLICATE_ATTRIBUTE)
                singles[attr_type] = value
                if bounds:  # () for any length, else the attribute's (min, max) Length
                    if not bounds[0] <= attr_len <= bounds[1]:
                        raise MalformedPacket(_ATTR_LEN)
                    if attr_type == _MESSAGE_AUTHENTICATOR:
                        ma_offset = pos + 2
            elif attr_type == _EAP_MESSAGE:
                if eap_parts is None:
                    eap_parts = [value]
                elif eap_at != len(attributes) - 1:
                    # Another attribute came between: not consecutive (RFC 3579 3.1).
                    raise MalformedPacket(MalformedReason.BAD_EAP_MESSAGE)
                else:
                    eap_parts.append(value)
                eap_at = len(attributes)
            elif attr_type == _PROXY_STATE:
                proxy_states.append(value)
            elif attr_type == _VENDOR_SPECIFIC:
                vsas.append(value)
            append((attr_type, value))
            pos = end
    except IndexError:
        raise MalformedPacket(_ATTR_LEN) from None

    return _build(raw, attributes, singles, proxy_states, eap_parts, vsas, ma_offset)


def _build(
    raw: bytes,
    attributes: list[Attribute],
    singles: list[bytes | None],
    proxy_states: list[bytes],
    eap_parts: list[bytes] | None,
    vsas: list[bytes],
    ma_offset: int | None,
) -> RadiusRequest:
    """Check the rules that span attributes and build the request."""
    password = singles[_USER_PASSWORD]
    if password is not None:
        plen = len(password)
        # RFC 2865 5.2: 16 to 128 octets, a multiple of 16.
        if plen < 16 or plen > 128 or plen & 15:
            raise MalformedPacket(MalformedReason.BAD_PASSWORD_LENGTH)
    chap_password = singles[_CHAP_PASSWORD]
    # RFC 2865 4.1: User-Password or CHAP-Password, not both; RFC 3579 excludes both
    # alongside EAP-Message.
    credentials = (password is not None) + (chap_password is not None) + (eap_parts is not None)
    if credentials > 1:
        raise MalformedPacket(MalformedReason.CONFLICTING_ATTRIBUTES)

    user_name_raw = singles[_USER_NAME]
    user_name: str | None = None
    if user_name_raw:
        try:
            user_name = user_name_raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket(MalformedReason.BAD_UTF8) from None

    nas_ip = singles[_NAS_IP_ADDRESS]
    nas_ipv6 = singles[_NAS_IPV6_ADDRESS]
    nas_identifier = singles[_NAS_IDENTIFIER]
    called = singles[_CALLED_STATION_ID]
    calling = singles[_CALLING_STATION_ID]
    session = singles[_ACCT_SESSION_ID]
    nas_port = singles[_NAS_PORT]
    port_type = singles[_NAS_PORT_TYPE]
    service = singles[_SERVICE_TYPE]
    status = singles[_ACCT_STATUS_TYPE]
    # Informational text (station ids, NAS-Identifier) only feeds logs and policy
    # lookups: a NAS sending Latin-1 must not lock every user out, so "replace".
    # Numbers: their lengths were checked against _SINGLE_VALUED already. Inline, not
    # helper calls: this runs for every request.
    # In field order, through tuple.__new__: the named tuple's own __new__ is a Python
    # function with 26 parameters, which costs more than the tuple itself.
    return _new_tuple(
        RadiusRequest,
        (
            raw[0],  # code
            raw[1],  # identifier
            raw[4:20],  # authenticator
            raw,
            tuple(attributes),
            user_name,
            password,  # user_password
            chap_password,
            singles[_CHAP_CHALLENGE],
            None if nas_ip is None else f"{nas_ip[0]}.{nas_ip[1]}.{nas_ip[2]}.{nas_ip[3]}",
            None if nas_ipv6 is None else IPv6Address(nas_ipv6).compressed,
            None if nas_identifier is None else nas_identifier.decode("utf-8", "replace"),
            None if nas_port is None else int.from_bytes(nas_port, "big"),
            None if port_type is None else int.from_bytes(port_type, "big"),
            None if service is None else int.from_bytes(service, "big"),
            None if called is None else called.decode("utf-8", "replace"),
            None if calling is None else calling.decode("utf-8", "replace"),
            singles[_STATE],
            tuple(proxy_states),
            None if eap_parts is None else b"".join(eap_parts),
            singles[_MESSAGE_AUTHENTICATOR],
            ma_offset,
            _decode_vsas(vsas) if vsas else (),
            None if status is None else int.from_bytes(status, "big"),
            None if session is None else session.decode("utf-8", "replace"),
            user_name_raw == b"",  # empty_user_name
        ),
    )


def _decode_vsas(vsas: list[bytes]) -> tuple[VendorAttribute, ...]:
    """Split Vendor-Specific values into sub-attributes (RFC 2865 5.26).

    The Microsoft ones are parsed strictly, since MS-CHAP reads them. Other
    vendors may use their own layout (RFC 2865 allows it), so a value that does
    not parse as type/length/value is kept only in ``attributes``.
    """
    result: list[VendorAttribute] = []
    ms_seen: set[int] = set()
    for value in vsas:
        # RFC 2865 5.26: "Length >= 7": a 4-octet Vendor-Id and at least one octet.
        if len(value) < 5:
            raise MalformedPacket(_ATTR_LEN)
        vendor_id = int.from_bytes(value[:4], "big")
        subs = _split_sub_attributes(value)
        if vendor_id == c.VENDOR_MICROSOFT:
            if subs is None:
                raise MalformedPacket(MalformedReason.BAD_VENDOR_ATTRIBUTE)
            for vendor_type, _ in subs:
                if vendor_type in _MS_SINGLE_VALUED:
                    if vendor_type in ms_seen:
                        raise MalformedPacket(MalformedReason.DUPLICATE_ATTRIBUTE)
                    ms_seen.add(vendor_type)
        if subs is not None:
            result.extend((vendor_id, vendor_type, sub) for vendor_type, sub in subs)
    return tuple(result)


def _split_sub_attributes(value: bytes) -> list[tuple[int, bytes]] | None:
    """Split a VSA value after its Vendor-Id into (type, value); None if not well formed."""
    subs: list[tuple[int, bytes]] = []
    pos, end = 4, len(value)
    while pos < end:
        if pos + 2 > end:
            return None
        sub_len = value[pos + 1]
        if sub_len < 2 or pos + sub_len > end:
            return None
        subs.append((value[pos], value[pos + 2 : pos + sub_len]))
        pos += sub_len
    return subs
