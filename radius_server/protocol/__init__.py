"""Pure RADIUS protocol core: bytes in, values out, values in, bytes out.

No sockets, no asyncio, no database, no clock (``now`` is passed in). The
engine calls, per datagram::

    request = decode_request(datagram)                 # MalformedPacket -> drop
    cached = cache.claim(cache_key(host, port, request), now)  # bytes -> resend, marker -> drop
    authenticity = check_request_authenticity(request, secret, require_message_authenticator=...)
    pin = decrypt_pin(request.user_password, secret, request.authenticator)   # PAP
    ok = verify_chap_request(request, stored_pin)                            # CHAP
    datagram = encode_reply(request, Code.ACCESS_ACCEPT, secret, attributes)
    cache.store(cache_key(host, port, request), datagram, now)
"""

from radius_server.protocol.attributes import (
    eap_message_attributes,
    integer_attribute,
    ipaddr_attribute,
    ms_mppe_key_attributes,
    octets_attribute,
    string_attribute,
    tunnel_password_attribute,
    vendor_attribute,
    vlan_attributes,
)
from radius_server.protocol.authenticator import (
    Authenticity,
    check_request_authenticity,
    verify_hashed_request_authenticator,
    verify_message_authenticator,
)
from radius_server.protocol.chap import chap_challenge_of, verify_chap, verify_chap_request
from radius_server.protocol.client import (
    EncodedRequest,
    encode_accounting_request,
    encode_request,
    encode_status_server,
    verify_reply,
)
from radius_server.protocol.codes import Code
from radius_server.protocol.dictionary import encode_attribute, load_dictionary
from radius_server.protocol.errors import (
    EncodeError,
    MalformedPacket,
    MalformedReason,
    ProtocolError,
)
from radius_server.protocol.packet import Attribute, RadiusRequest, decode_request
from radius_server.protocol.pap import decrypt_password, decrypt_pin, encrypt_password, pin_matches
from radius_server.protocol.reply import encode_reply
from radius_server.protocol.reply_cache import Pending, ReplyCache, cache_key
from radius_server.protocol.salt import salt_decrypt, salt_encrypt

__all__ = [
    "Attribute",
    "Authenticity",
    "Code",
    "EncodeError",
    "EncodedRequest",
    "MalformedPacket",
    "MalformedReason",
    "Pending",
    "ProtocolError",
    "RadiusRequest",
    "ReplyCache",
    "cache_key",
    "chap_challenge_of",
    "check_request_authenticity",
    "decode_request",
    "decrypt_password",
    "decrypt_pin",
    "eap_message_attributes",
    "encode_accounting_request",
    "encode_attribute",
    "encode_reply",
    "encode_request",
    "encode_status_server",
    "encrypt_password",
    "integer_attribute",
    "ipaddr_attribute",
    "load_dictionary",
    "ms_mppe_key_attributes",
    "octets_attribute",
    "pin_matches",
    "salt_decrypt",
    "salt_encrypt",
    "string_attribute",
    "tunnel_password_attribute",
    "vendor_attribute",
    "verify_chap",
    "verify_chap_request",
    "verify_hashed_request_authenticator",
    "verify_message_authenticator",
    "verify_reply",
    "vlan_attributes",
]
