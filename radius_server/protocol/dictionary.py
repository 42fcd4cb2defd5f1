"""Our FreeRADIUS-format dictionary, through pyrad, for attributes named in configuration.

The hot path never touches pyrad: names are turned into ``(type, bytes)``
pairs once, when policy or configuration is loaded, with
:func:`encode_attribute`.
"""

from __future__ import annotations

import functools
import os
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from pyrad.dictionary import Attribute as DictionaryAttribute
from pyrad.dictionary import Dictionary

from radius_server.protocol.attributes import (
    MAX_VENDOR_VALUE_LENGTH,
    octets_attribute,
    vendor_attribute,
)
from radius_server.protocol.errors import EncodeError
from radius_server.protocol.packet import Attribute
from radius_server.resources import dictionary_path

_INTEGER_SIZES = {"integer": 4, "date": 4, "short": 2, "byte": 1, "integer64": 8}


@functools.cache
def _load(path: str) -> Dictionary:
    return Dictionary(path)


def load_dictionary(path: str | os.PathLike[str] | None = None) -> Dictionary:
    """Load (once per path, then cached) the dictionary; ours by default.

    The default is ``radius_server.resources.dictionary_path()``, the
    ``dictionaries/dictionary`` file that ``$INCLUDE``s the others.
    """
    resolved = Path(path) if path is not None else dictionary_path()
    return _load(str(resolved.resolve()))


def encode_attribute(
    name: str,
    value: str | int | bytes,
    *,
    tag: int = 0,
    dictionary: Dictionary | None = None,
) -> Attribute:
    """Encode a dictionary attribute by name into a ``(type, value)`` pair.

    ``value`` may be a VALUE name for enumerated integers (``"VLAN"``), an
    ``int``, text, or bytes for octets (text starting ``0x`` is hex). Vendor
    attributes come back wrapped in a Vendor-Specific attribute (type 26).
    Tagged attributes (RFC 2868 3.1) take ``tag`` (0..31). Encrypted ones
    (``encrypt=``) need the request: use the helpers in
    :mod:`radius_server.protocol.attributes` instead.

    Raises:
        EncodeError: unknown name, unsupported type, or a value that does not fit.
    """
    d = dictionary if dictionary is not None else load_dictionary()
    attr = d.attributes.get(name)
    if attr is None:
        raise EncodeError(f"attribute {name!r} is not in the dictionary")
    if attr.encrypt:
        raise EncodeError(f"attribute {name!r} is encrypted; it needs the request to encode")
    if not 0 <= tag <= 0x1F:
        raise EncodeError("tunnel tag out of range")
    data = _encode_value(attr, value)
    if attr.has_tag:
        data = _add_tag(attr.type, data, tag)
    if attr.vendor:
        if len(data) > MAX_VENDOR_VALUE_LENGTH:
            raise EncodeError(f"value of {name!r} too long")
        return vendor_attribute(d.vendors.GetForward(attr.vendor), attr.code, data)
    return octets_attribute(attr.code, data)


def _encode_value(attr: DictionaryAttribute, value: str | int | bytes) -> bytes:
    datatype: str = attr.type
    name: str = attr.name
    if datatype in _INTEGER_SIZES or datatype == "signed":
        number = _integer_value(attr, value)
        size = _INTEGER_SIZES.get(datatype, 4)
        try:
            return number.to_bytes(size, "big", signed=datatype == "signed")
        except OverflowError:
            raise EncodeError(f"value of {name!r} out of range") from None
    if datatype == "string":
        return value.encode("utf-8") if isinstance(value, str) else _as_bytes(name, value)
    if datatype == "octets":
        if isinstance(value, str):
            if value.startswith("0x"):
                try:
                    return bytes.fromhex(value[2:])
                except ValueError:
                    raise EncodeError(f"value of {name!r} is not hex") from None
            return value.encode("utf-8")
        return _as_bytes(name, value)
    try:
        if datatype == "ipaddr":
            return IPv4Address(value).packed
        if datatype == "ipv6addr":
            return IPv6Address(value).packed
    except ValueError:
        raise EncodeError(f"value of {name!r} is not an address") from None
    raise EncodeError(f"type {datatype!r} of {name!r} is not supported here")


def _integer_value(attr: DictionaryAttribute, value: str | int | bytes) -> int:
    name: str = attr.name
    if isinstance(value, bool | bytes):
        raise EncodeError(f"value of {name!r} must be an integer")
    if isinstance(value, int):
        return value
    values = attr.values
    if values.HasForward(value):
        encoded = values.GetForward(value)
        # pyrad keeps VALUE entries encoded (bytes) in recent versions, as ints in old ones.
        return int.from_bytes(encoded, "big") if isinstance(encoded, bytes) else int(encoded)
    try:
        return int(value, 0)
    except ValueError:
        raise EncodeError(f"unknown value for {name!r}") from None


def _as_bytes(name: str, value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise EncodeError(f"value of {name!r} must be text or bytes")
    return value


def _add_tag(datatype: str, data: bytes, tag: int) -> bytes:
    """Insert the RFC 2868 3.1 tag octet.

    Tagged integers are Tag(1) + 24-bit value. Tagged strings carry the tag
    octet when it is set, or when the first octet could be mistaken for one
    (0x01..0x1F); otherwise tag 0 is sent implicitly.
    """
    if datatype == "integer":
        if data[0] != 0:
            raise EncodeError("tagged integer out of 24-bit range")
        return bytes((tag,)) + data[1:]
    if tag or (data and data[0] <= 0x1F):
        return bytes((tag,)) + data
    return data
