"""Build reply attributes as ``(type, value bytes)`` pairs.

Values are encoded once here, so policy can prepare a customer's reply
attributes ahead of time and the encoder only concatenates. For attributes
named in a dictionary (vendor ones included), see
:func:`radius_server.protocol.dictionary.encode_attribute`.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from radius_server.protocol import codes as c
from radius_server.protocol.errors import EncodeError
from radius_server.protocol.packet import Attribute
from radius_server.protocol.salt import new_salt, salt_encrypt

# RFC 2865 5.26: Type(1) Length(1) Vendor-Id(4) Vendor-Type(1) Vendor-Length(1) leaves 247.
MAX_VENDOR_VALUE_LENGTH = 247
_VSA_HEADER = struct.Struct("!IBB")


def octets_attribute(attr_type: int, value: bytes) -> Attribute:
    """An attribute with a raw value; at most 253 octets (RFC 2865 5)."""
    if len(value) > c.MAX_ATTRIBUTE_VALUE_LENGTH:
        raise EncodeError("attribute value longer than 253 octets")
    return (attr_type, bytes(value))


def string_attribute(attr_type: int, value: str) -> Attribute:
    """A text attribute, UTF-8 encoded (RFC 2865 5, RFC 3629)."""
    return octets_attribute(attr_type, value.encode("utf-8"))


def integer_attribute(attr_type: int, value: int) -> Attribute:
    """A 32-bit unsigned integer attribute (RFC 2865 5)."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise EncodeError("integer attribute out of range")
    return (attr_type, value.to_bytes(4, "big"))


def ipaddr_attribute(attr_type: int, value: str | IPv4Address) -> Attribute:
    """An IPv4 address attribute (RFC 2865 5)."""
    try:
        return (attr_type, IPv4Address(value).packed)
    except ValueError:
        raise EncodeError("not an IPv4 address") from None


def vendor_attribute(vendor_id: int, vendor_type: int, value: bytes) -> Attribute:
    """A Vendor-Specific attribute with one RFC 2865 5.26 sub-attribute."""
    if len(value) > MAX_VENDOR_VALUE_LENGTH:
        raise EncodeError("vendor attribute value longer than 247 octets")
    return (c.VENDOR_SPECIFIC, _VSA_HEADER.pack(vendor_id, vendor_type, len(value) + 2) + value)


def eap_message_attributes(eap_packet: bytes) -> list[Attribute]:
    """Split an EAP packet into consecutive EAP-Message attributes of <= 253 octets.

    RFC 3579 3.1: the receiver joins them in order, so they must stay together.
    """
    size = c.MAX_ATTRIBUTE_VALUE_LENGTH
    if not eap_packet:
        return [(c.EAP_MESSAGE, b"")]
    return [(c.EAP_MESSAGE, eap_packet[i : i + size]) for i in range(0, len(eap_packet), size)]


def eap_message_room(octets: int) -> int:
    """The longest EAP packet whose EAP-Message attributes fit in ``octets`` (0 if none).

    The inverse of :func:`eap_message_attributes`: each attribute costs 2 octets
    of header for up to 253 octets of the packet.
    """
    if octets <= 2:
        return 0
    whole, rest = divmod(octets, c.MAX_ATTRIBUTE_VALUE_LENGTH + 2)
    return whole * c.MAX_ATTRIBUTE_VALUE_LENGTH + max(0, rest - 2)


def ms_mppe_key_attributes(
    send_key: bytes, recv_key: bytes, secret: bytes, request_authenticator: bytes
) -> list[Attribute]:
    """MS-MPPE-Send-Key and MS-MPPE-Recv-Key, salt-encrypted (RFC 2548 2.4.2, 2.4.3).

    The two salts differ, as RFC 2548 requires within one packet. For EAP the
    keys come from the MSK: Recv-Key = MSK[0:32], Send-Key = MSK[32:64].
    """
    send_salt = new_salt()
    recv_salt = new_salt()
    while recv_salt == send_salt:
        recv_salt = new_salt()
    return [
        vendor_attribute(
            c.VENDOR_MICROSOFT,
            c.MS_MPPE_SEND_KEY,
            salt_encrypt(send_key, secret, request_authenticator, send_salt),
        ),
        vendor_attribute(
            c.VENDOR_MICROSOFT,
            c.MS_MPPE_RECV_KEY,
            salt_encrypt(recv_key, secret, request_authenticator, recv_salt),
        ),
    ]


def tunnel_password_attribute(
    password: bytes, secret: bytes, request_authenticator: bytes, tag: int = 0
) -> Attribute:
    """Tunnel-Password: Tag(1) + Salt(2) + ciphertext (RFC 2868 3.5)."""
    if not 0 <= tag <= 0x1F:
        raise EncodeError("tunnel tag out of range")
    value = bytes((tag,)) + salt_encrypt(password, secret, request_authenticator)
    return octets_attribute(c.TUNNEL_PASSWORD, value)


def vlan_attributes(vlan_id: int) -> list[Attribute]:
    """Dynamic VLAN assignment for 802.1X (RFC 3580 3.31, tags per RFC 2868 3.1).

    Tunnel-Type = VLAN (13), Tunnel-Medium-Type = IEEE-802 (6), both tagged 0,
    and Tunnel-Private-Group-Id = the VLAN id as decimal text.
    """
    if not 1 <= vlan_id <= 4094:
        raise EncodeError("VLAN id out of range")
    return [
        (c.TUNNEL_TYPE, c.TUNNEL_TYPE_VLAN.to_bytes(4, "big")),
        (c.TUNNEL_MEDIUM_TYPE, c.TUNNEL_MEDIUM_TYPE_IEEE_802.to_bytes(4, "big")),
        (c.TUNNEL_PRIVATE_GROUP_ID, str(vlan_id).encode("ascii")),
    ]
