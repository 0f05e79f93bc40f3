"""STUN messages, demultiplexing and Binding transactions [RFC 5389].

Layer 1 of voip-core, pure and synchronous: a
:class:`StunMessage` parses from and serializes to the wire [RFC 5389 §6,
§15], with MESSAGE-INTEGRITY [§15.4] and FINGERPRINT [§15.5];
:func:`classify` tells STUN, DTLS, RTP and RTCP apart on a shared socket by
their first octet [RFC 7983 §7]; :class:`StunTransaction` is the client's
retransmission schedule [RFC 5389 §7.2.1] driven by an explicit clock.

The asyncio face over it is :mod:`voip_core.stun_client`: a client that
asks over a socket whose receiving side belongs to someone else (the RTP
endpoint hands it the STUN datagrams), and a small server.

A STUN message [RFC 5389 §6]::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |0 0|     STUN Message Type     |         Message Length        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                         Magic Cookie                          |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                     Transaction ID (96 bits)                  |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |            attributes: type, length, value, padding           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

A server's answer to a Binding request, checked the way a client does:

>>> request = binding_request(bytes(range(12)), software="voip-core")
>>> wire = request.serialize(fingerprint=True)
>>> classify(wire), verify_fingerprint(wire)
('stun', True)
>>> answer = binding_success(parse(wire), ("192.0.2.1", 32853))
>>> parse(answer.serialize(integrity_key=b"secret")).xor_mapped_address
('192.0.2.1', 32853)
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import logging
import secrets
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Self, TypeAlias

from voip_core.errors import ParseError

__all__ = [
    "ALTERNATE_SERVER",
    "BINDING",
    "ERROR_CODE",
    "FINGERPRINT",
    "ICE_CONTROLLED",
    "ICE_CONTROLLING",
    "MAGIC_COOKIE",
    "MAPPED_ADDRESS",
    "MESSAGE_INTEGRITY",
    "NONCE",
    "PRIORITY",
    "REALM",
    "SOFTWARE",
    "UNKNOWN_ATTRIBUTES",
    "USERNAME",
    "USE_CANDIDATE",
    "XOR_MAPPED_ADDRESS",
    "Address",
    "PacketKind",
    "StunClass",
    "StunMessage",
    "StunTransaction",
    "answer_request",
    "binding_request",
    "binding_success",
    "classify",
    "decode_address",
    "decode_error_code",
    "decode_unknown_attributes",
    "decode_xor_address",
    "encode_address",
    "encode_error_code",
    "encode_unknown_attributes",
    "encode_xor_address",
    "error_response",
    "is_stun",
    "long_term_key",
    "new_transaction_id",
    "parse",
    "short_term_key",
    "verify_fingerprint",
    "verify_integrity",
]

logger = logging.getLogger(__name__)

#: A transport address: host literal (IPv4 or IPv6) and port.
Address: TypeAlias = tuple[str, int]

#: The fixed value at octets 4..8 of every RFC 5389 message [RFC 5389 §6].
MAGIC_COOKIE = 0x2112A442

#: The Binding method [RFC 5389 §18.1].
BINDING = 0x001

# Attribute types [RFC 5389 §18.2; RFC 8445 §16.1 for the ICE ones].
# 0x0000-0x7FFF are comprehension-required, 0x8000-0xFFFF optional [§15].
MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
REALM = 0x0014
NONCE = 0x0015
XOR_MAPPED_ADDRESS = 0x0020
PRIORITY = 0x0024
USE_CANDIDATE = 0x0025
SOFTWARE = 0x8022
ALTERNATE_SERVER = 0x8023
FINGERPRINT = 0x8028
ICE_CONTROLLED = 0x8029
ICE_CONTROLLING = 0x802A

_HEADER_SIZE = 20
_TRANSACTION_ID_SIZE = 12
_INTEGRITY_SIZE = 20  # HMAC-SHA1 [RFC 5389 §15.4]
_INTEGRITY_ATTRIBUTE_SIZE = 4 + _INTEGRITY_SIZE
_FINGERPRINT_ATTRIBUTE_SIZE = 4 + 4
_FINGERPRINT_XOR = 0x5354554E  # "STUN" [RFC 5389 §15.5]
_MAX_METHOD = 0xFFF
_MAX_UINT16 = 0xFFFF
_MAX_USERNAME_OCTETS = 512  # "less than 513 bytes" [RFC 5389 §15.3]
_MAX_TEXT_CHARACTERS = 127  # "fewer than 128 characters" [RFC 5389 §15.6-15.8, §15.10]
_FAMILY_IPV4 = 0x01
_FAMILY_IPV6 = 0x02

_HEADER = struct.Struct("!HHI12s")
_ATTRIBUTE_HEADER = struct.Struct("!HH")
_ADDRESS_HEADER = struct.Struct("!xBH")
_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")

#: Reason phrases of the error codes RFC 5389 defines [RFC 5389 §15.6].
_REASONS = {
    300: "Try Alternate",
    400: "Bad Request",
    401: "Unauthorized",
    420: "Unknown Attribute",
    438: "Stale Nonce",
    500: "Server Error",
}

#: Comprehension-required attributes this module knows; any other one in a
#: request earns a 420 answer [RFC 5389 §7.3.1].
_UNDERSTOOD = frozenset(
    {
        MAPPED_ADDRESS,
        USERNAME,
        MESSAGE_INTEGRITY,
        ERROR_CODE,
        UNKNOWN_ATTRIBUTES,
        REALM,
        NONCE,
        XOR_MAPPED_ADDRESS,
        PRIORITY,
        USE_CANDIDATE,
    }
)


class StunClass(enum.IntEnum):
    """The two class bits of the message type [RFC 5389 §6]."""

    REQUEST = 0b00
    INDICATION = 0b01
    SUCCESS = 0b10
    ERROR = 0b11


def _message_type(method: int, message_class: int) -> int:
    """Interleave method bits M0-M11 and class bits C0, C1 [RFC 5389 §6, Figure 3]."""
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((message_class & 0b01) << 4)
        | ((message_class & 0b10) << 7)
    )


def _split_message_type(message_type: int) -> tuple[int, StunClass]:
    """The (method, class) packed in a 14-bit message type [RFC 5389 §6]."""
    method = (
        (message_type & 0x000F) | ((message_type >> 1) & 0x0070) | ((message_type >> 2) & 0x0F80)
    )
    message_class = ((message_type >> 4) & 0b01) | ((message_type >> 7) & 0b10)
    return method, StunClass(message_class)


def new_transaction_id() -> bytes:
    """A fresh, cryptographically random 96-bit transaction ID [RFC 5389 §6]."""
    return secrets.token_bytes(_TRANSACTION_ID_SIZE)


@dataclass(slots=True, kw_only=True)
class StunMessage:
    """One STUN message [RFC 5389 §6].

    ``attributes`` holds every attribute as ``(type, value)`` in wire order,
    values without their padding, except MESSAGE-INTEGRITY and FINGERPRINT:
    :meth:`serialize` computes those from its arguments, and :meth:`parse`
    reports them in ``integrity`` and ``fingerprint``. A parsed message drops
    any attribute between MESSAGE-INTEGRITY and FINGERPRINT, which a receiver
    must ignore [RFC 5389 §15.4]. The typed accessors (``xor_mapped_address``,
    ``username``, ``error_code``, ...) decode the first attribute of their type
    and raise :class:`~voip_core.errors.ParseError` when its value is
    malformed.

    Attributes:
        method: The 12-bit method, e.g. :data:`BINDING`.
        message_class: Request, indication, success or error response.
        transaction_id: The 96-bit transaction ID, 12 octets.
        attributes: ``(type, value)`` pairs in order.
        integrity: The MESSAGE-INTEGRITY HMAC a parsed message carried; check
            it with :func:`verify_integrity` on the received bytes. Ignored by
            :meth:`serialize` and by comparisons.
        fingerprint: The FINGERPRINT value a parsed message carried; check it
            with :func:`verify_fingerprint`. Ignored by :meth:`serialize` and
            by comparisons.

    Raises:
        ValueError: ``method`` is not 12-bit, ``message_class`` is not 0..3 or
            ``transaction_id`` is not 12 octets.
    """

    method: int
    message_class: StunClass
    transaction_id: bytes
    attributes: list[tuple[int, bytes]] = field(default_factory=list)
    integrity: bytes | None = field(default=None, compare=False)
    fingerprint: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.method <= _MAX_METHOD:
            raise ValueError(f"STUN method must be 0..0xFFF, got {self.method:#x} [RFC 5389 §6]")
        self.message_class = StunClass(self.message_class)
        if len(self.transaction_id) != _TRANSACTION_ID_SIZE:
            raise ValueError(
                f"transaction ID must be 12 octets, got {len(self.transaction_id)} [RFC 5389 §6]"
            )

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        """Parse one STUN message from a datagram [RFC 5389 §6, §15].

        Args:
            data: The whole UDP payload.

        Returns:
            The message. MESSAGE-INTEGRITY and FINGERPRINT are read but not
            checked: use :func:`verify_integrity` and
            :func:`verify_fingerprint` on the same bytes.

        Raises:
            ParseError: Shorter than the 20-octet header, the two leading bits
                set, the wrong magic cookie (RFC 3489 messages are refused), a
                length field that is not a multiple of 4 or does not match the
                datagram, an attribute running past the end, a
                MESSAGE-INTEGRITY of other than 20 octets or FINGERPRINT of
                other than 4, or anything after FINGERPRINT [RFC 5389 §6,
                §15, §15.4, §15.5].
        """
        raw = data if type(data) is bytes else bytes(data)
        scan = _scan(raw)
        method, message_class = _split_message_type(scan.message_type)
        message = cls(
            method=method,
            message_class=message_class,
            transaction_id=raw[8:_HEADER_SIZE],
            attributes=scan.attributes,
        )
        if scan.integrity_at is not None:
            start = scan.integrity_at + 4
            message.integrity = raw[start : start + _INTEGRITY_SIZE]
        if scan.fingerprint_at is not None:
            message.fingerprint = int.from_bytes(raw[scan.fingerprint_at + 4 :], "big")
        return message

    def serialize(
        self,
        *,
        integrity_key: bytes | None = None,
        fingerprint: bool = False,
        pad_octet: int = 0,
    ) -> bytes:
        """Return the message as it goes on the wire [RFC 5389 §6, §15].

        Args:
            integrity_key: When given, append MESSAGE-INTEGRITY: HMAC-SHA1
                under this key (see :func:`short_term_key` and
                :func:`long_term_key`) over the message so far, with the
                length field counting up to the end of MESSAGE-INTEGRITY
                [RFC 5389 §15.4].
            fingerprint: Append FINGERPRINT, the CRC-32 of everything before
                it XOR 0x5354554e, as the last attribute [RFC 5389 §15.5].
            pad_octet: The value of padding octets. Receivers ignore it
                [RFC 5389 §15]; RFC 5769's vectors use 0x20.

        Returns:
            The header and the attributes, each padded to 4 octets.

        Raises:
            ValueError: An attribute type outside 0..0xFFFF, a value over
                65535 octets, a message over 65535 octets after the header,
                MESSAGE-INTEGRITY or FINGERPRINT among ``attributes``, or a
                field set out of range after the message was made.
        """
        self.__post_init__()
        if not 0 <= pad_octet <= 0xFF:
            raise ValueError(f"pad_octet must be 0..255, got {pad_octet}")
        padding = bytes((pad_octet,)) * 3
        parts: list[bytes] = []
        for attribute_type, value in self.attributes:
            if attribute_type in (MESSAGE_INTEGRITY, FINGERPRINT):
                raise ValueError(
                    f"attribute {attribute_type:#06x} is computed by serialize(): pass "
                    "integrity_key= or fingerprint=True instead"
                )
            if not 0 <= attribute_type <= _MAX_UINT16:
                raise ValueError(f"attribute type must be 0..0xFFFF, got {attribute_type:#x}")
            size = len(value)
            if size > _MAX_UINT16:
                raise ValueError(
                    f"attribute {attribute_type:#06x} value of {size} octets is too long"
                )
            parts.append(_ATTRIBUTE_HEADER.pack(attribute_type, size))
            parts.append(bytes(value))
            if size & 3:
                parts.append(padding[: 4 - (size & 3)])
        body = b"".join(parts)
        length = len(body)
        total = length
        if integrity_key is not None:
            total += _INTEGRITY_ATTRIBUTE_SIZE
        if fingerprint:
            total += _FINGERPRINT_ATTRIBUTE_SIZE
        if total > _MAX_UINT16:
            raise ValueError(f"STUN message body of {total} octets exceeds the 16-bit length")
        message_type = _message_type(self.method, self.message_class)
        transaction_id = bytes(self.transaction_id)
        if integrity_key is not None:
            length += _INTEGRITY_ATTRIBUTE_SIZE
            covered = _HEADER.pack(message_type, length, MAGIC_COOKIE, transaction_id) + body
            digest = hmac.digest(integrity_key, covered, "sha1")
            body += _ATTRIBUTE_HEADER.pack(MESSAGE_INTEGRITY, _INTEGRITY_SIZE) + digest
        message = _HEADER.pack(message_type, total, MAGIC_COOKIE, transaction_id) + body
        if fingerprint:
            crc = zlib.crc32(message) ^ _FINGERPRINT_XOR
            message += _ATTRIBUTE_HEADER.pack(FINGERPRINT, 4) + crc.to_bytes(4, "big")
        return message

    __bytes__ = serialize

    # -- raw attribute access ------------------------------------------------

    def get(self, attribute_type: int) -> bytes | None:
        """The value of the first attribute of ``attribute_type``, or None."""
        for candidate, value in self.attributes:
            if candidate == attribute_type:
                return value
        return None

    def get_all(self, attribute_type: int) -> list[bytes]:
        """The values of every attribute of ``attribute_type``, in order."""
        return [value for candidate, value in self.attributes if candidate == attribute_type]

    def add(self, attribute_type: int, value: bytes) -> Self:
        """Append one attribute; returns the message, so calls chain."""
        self.attributes.append((attribute_type, value))
        return self

    def add_text(self, attribute_type: int, text: str) -> Self:
        """Append a UTF-8 text attribute (USERNAME, SOFTWARE, REALM, NONCE).

        Raises:
            ValueError: USERNAME over 512 octets, or another text attribute of
                128 characters or more [RFC 5389 §15.3, §15.7, §15.8, §15.10].
        """
        value = text.encode("utf-8")
        if attribute_type == USERNAME:
            if len(value) > _MAX_USERNAME_OCTETS:
                raise ValueError(f"USERNAME of {len(value)} octets exceeds 512 [RFC 5389 §15.3]")
        elif len(text) > _MAX_TEXT_CHARACTERS:
            raise ValueError(
                f"attribute {attribute_type:#06x} text of {len(text)} characters exceeds 127 "
                "[RFC 5389 §15]"
            )
        return self.add(attribute_type, value)

    def add_xor_mapped_address(self, address: Address) -> Self:
        """Append XOR-MAPPED-ADDRESS for ``(host, port)`` [RFC 5389 §15.2]."""
        return self.add(XOR_MAPPED_ADDRESS, encode_xor_address(address, self.transaction_id))

    def add_mapped_address(self, address: Address) -> Self:
        """Append MAPPED-ADDRESS for ``(host, port)`` [RFC 5389 §15.1]."""
        return self.add(MAPPED_ADDRESS, encode_address(address))

    def add_error_code(self, code: int, reason: str | None = None) -> Self:
        """Append ERROR-CODE; ``reason`` defaults to the RFC 5389 phrase [§15.6]."""
        return self.add(ERROR_CODE, encode_error_code(code, reason))

    # -- typed accessors -------------------------------------------------------

    def _text(self, attribute_type: int) -> str | None:
        value = self.get(attribute_type)
        if value is None:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ParseError(
                f"attribute {attribute_type:#06x} is not UTF-8 [RFC 5389 §15]",
                offset=error.start,
            ) from None

    def _unsigned(self, attribute_type: int, size: int) -> int | None:
        value = self.get(attribute_type)
        if value is None:
            return None
        if len(value) != size:
            raise ParseError(
                f"attribute {attribute_type:#06x} must be {size} octets, got {len(value)}"
            )
        return int.from_bytes(value, "big")

    @property
    def xor_mapped_address(self) -> Address | None:
        """XOR-MAPPED-ADDRESS as ``(host, port)``, or None [RFC 5389 §15.2]."""
        value = self.get(XOR_MAPPED_ADDRESS)
        return None if value is None else decode_xor_address(value, self.transaction_id)

    @property
    def mapped_address(self) -> Address | None:
        """MAPPED-ADDRESS as ``(host, port)``, or None [RFC 5389 §15.1]."""
        value = self.get(MAPPED_ADDRESS)
        return None if value is None else decode_address(value)

    @property
    def username(self) -> str | None:
        """USERNAME, or None [RFC 5389 §15.3]."""
        return self._text(USERNAME)

    @property
    def software(self) -> str | None:
        """SOFTWARE, or None [RFC 5389 §15.10]."""
        return self._text(SOFTWARE)

    @property
    def realm(self) -> str | None:
        """REALM, or None [RFC 5389 §15.7]."""
        return self._text(REALM)

    @property
    def nonce(self) -> str | None:
        """NONCE, or None [RFC 5389 §15.8]."""
        return self._text(NONCE)

    @property
    def error_code(self) -> tuple[int, str] | None:
        """ERROR-CODE as ``(code, reason)``, e.g. ``(420, "Unknown Attribute")`` [§15.6]."""
        value = self.get(ERROR_CODE)
        return None if value is None else decode_error_code(value)

    @property
    def unknown_attributes(self) -> tuple[int, ...] | None:
        """UNKNOWN-ATTRIBUTES as attribute types, or None [RFC 5389 §15.9]."""
        value = self.get(UNKNOWN_ATTRIBUTES)
        return None if value is None else decode_unknown_attributes(value)

    @property
    def priority(self) -> int | None:
        """ICE PRIORITY (32-bit), or None [RFC 8445 §7.1.1]."""
        return self._unsigned(PRIORITY, 4)

    @property
    def ice_controlled(self) -> int | None:
        """ICE-CONTROLLED tie-breaker (64-bit), or None [RFC 8445 §7.1.3]."""
        return self._unsigned(ICE_CONTROLLED, 8)

    @property
    def ice_controlling(self) -> int | None:
        """ICE-CONTROLLING tie-breaker (64-bit), or None [RFC 8445 §7.1.3]."""
        return self._unsigned(ICE_CONTROLLING, 8)

    @property
    def use_candidate(self) -> bool:
        """Whether USE-CANDIDATE is present [RFC 8445 §7.1.2]."""
        return self.get(USE_CANDIDATE) is not None


def parse(data: bytes | bytearray | memoryview) -> StunMessage:
    """Parse one STUN message; see :meth:`StunMessage.parse`."""
    return StunMessage.parse(data)


@dataclass(slots=True)
class _Scan:
    """What one pass over a message's attributes found."""

    message_type: int
    attributes: list[tuple[int, bytes]]
    integrity_at: int | None
    fingerprint_at: int | None


def _scan(raw: bytes) -> _Scan:
    """Check the header and walk the attributes [RFC 5389 §6, §15].

    Raises:
        ParseError: See :meth:`StunMessage.parse`.
    """
    size = len(raw)
    if size < _HEADER_SIZE:
        raise ParseError(
            f"STUN message of {size} octets is shorter than the 20-octet header [RFC 5389 §6]",
            offset=size,
        )
    message_type, length, cookie, _ = _HEADER.unpack_from(raw)
    if message_type & 0xC000:
        raise ParseError(
            "the two leading bits of a STUN message must be zero [RFC 5389 §6]", offset=0
        )
    if cookie != MAGIC_COOKIE:
        raise ParseError(
            f"magic cookie {cookie:#010x}, expected 0x2112a442 [RFC 5389 §6]", offset=4
        )
    if length & 3:
        raise ParseError(f"message length {length} is not a multiple of 4 [RFC 5389 §6]", offset=2)
    if length != size - _HEADER_SIZE:
        raise ParseError(
            f"message length {length} does not match the {size - _HEADER_SIZE} octets "
            "after the header [RFC 5389 §6]",
            offset=2,
        )
    attributes: list[tuple[int, bytes]] = []
    integrity_at: int | None = None
    fingerprint_at: int | None = None
    offset = _HEADER_SIZE
    # Both offset and size are multiples of 4, so an attribute header always
    # fits and a value that fits also has room for its padding.
    while offset < size:
        if fingerprint_at is not None:
            raise ParseError(
                "attribute after FINGERPRINT, which must come last [RFC 5389 §15.5]",
                offset=offset,
            )
        attribute_type, attribute_length = _ATTRIBUTE_HEADER.unpack_from(raw, offset)
        start = offset + 4
        end = start + attribute_length
        if end > size:
            raise ParseError(
                f"attribute {attribute_type:#06x} of {attribute_length} octets runs past "
                f"the end of the {size}-octet message [RFC 5389 §15]",
                offset=offset + 2,
            )
        if attribute_type == FINGERPRINT:
            if attribute_length != 4:
                raise ParseError(
                    f"FINGERPRINT must be 4 octets, got {attribute_length} [RFC 5389 §15.5]",
                    offset=offset + 2,
                )
            fingerprint_at = offset
        elif integrity_at is None:
            if attribute_type == MESSAGE_INTEGRITY:
                if attribute_length != _INTEGRITY_SIZE:
                    raise ParseError(
                        f"MESSAGE-INTEGRITY must be 20 octets, got {attribute_length} "
                        "[RFC 5389 §15.4]",
                        offset=offset + 2,
                    )
                integrity_at = offset
            else:
                attributes.append((attribute_type, raw[start:end]))
        # Else: after MESSAGE-INTEGRITY, ignored [RFC 5389 §15.4].
        offset = (end + 3) & ~3
    return _Scan(message_type, attributes, integrity_at, fingerprint_at)


# -- MESSAGE-INTEGRITY and FINGERPRINT -------------------------------------------


def short_term_key(password: str) -> bytes:
    """The short-term credential key: the password's UTF-8 octets [RFC 5389 §15.4].

    SASLprep [RFC 4013] is not applied: pass a password that is already in
    its prepared form (ICE passwords are ASCII, where SASLprep changes
    nothing).
    """
    return password.encode("utf-8")


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """The long-term credential key, MD5(username ":" realm ":" password) [RFC 5389 §15.4].

    As in :func:`short_term_key`, the password must already be SASLprep'ed.

    >>> long_term_key("user", "realm", "pass").hex()
    '8493fbc53ba582fb4c044c456bdc40eb'
    """
    text = f"{username}:{realm}:{password}".encode()
    return hashlib.md5(text).digest()


def verify_integrity(raw: bytes | bytearray | memoryview, key: bytes) -> bool:
    """Check the MESSAGE-INTEGRITY of a received message [RFC 5389 §15.4].

    The HMAC-SHA1 covers the header, with the length field set to end right
    after MESSAGE-INTEGRITY (so a FINGERPRINT after it does not count), and
    every attribute before it, padding included, as received.

    Args:
        raw: The datagram exactly as received.
        key: See :func:`short_term_key` and :func:`long_term_key`.

    Returns:
        True only if the message parses, carries MESSAGE-INTEGRITY and the
        HMAC matches (compared in constant time). Never raises on bad input.
    """
    data = bytes(raw)
    try:
        scan = _scan(data)
    except ParseError:
        return False
    at = scan.integrity_at
    if at is None:
        return False
    length = at - _HEADER_SIZE + _INTEGRITY_ATTRIBUTE_SIZE
    covered = data[:2] + length.to_bytes(2, "big") + data[4:at]
    expected = hmac.digest(key, covered, "sha1")
    return hmac.compare_digest(expected, data[at + 4 : at + _INTEGRITY_ATTRIBUTE_SIZE])


def verify_fingerprint(raw: bytes | bytearray | memoryview) -> bool:
    """Check the FINGERPRINT of a received message [RFC 5389 §15.5].

    Returns:
        True only if the message parses, ends with FINGERPRINT and its value
        is the CRC-32 of everything before it XOR 0x5354554e. Never raises.
    """
    data = bytes(raw)
    try:
        scan = _scan(data)
    except ParseError:
        return False
    at = scan.fingerprint_at
    if at is None:
        return False
    return zlib.crc32(data[:at]) ^ _FINGERPRINT_XOR == int.from_bytes(data[at + 4 :], "big")


# -- attribute values --------------------------------------------------------------


def _address_octets(host: str) -> tuple[int, bytes]:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"STUN addresses are IP literals, got {host!r}") from None
    family = _FAMILY_IPV4 if address.version == 4 else _FAMILY_IPV6
    return family, address.packed


def _check_port(port: int) -> None:
    if not 0 <= port <= _MAX_UINT16:
        raise ValueError(f"port must be 0..65535, got {port}")


def encode_address(address: Address) -> bytes:
    """The MAPPED-ADDRESS (or ALTERNATE-SERVER) value of ``(host, port)`` [RFC 5389 §15.1].

    Raises:
        ValueError: ``host`` is not an IPv4 or IPv6 literal, or the port is
            not 16-bit.
    """
    host, port = address[0], address[1]
    _check_port(port)
    family, octets = _address_octets(host)
    return _ADDRESS_HEADER.pack(family, port) + octets


def decode_address(value: bytes) -> Address:
    """``(host, port)`` from a MAPPED-ADDRESS value [RFC 5389 §15.1].

    Raises:
        ParseError: Not 8 octets of family 1 (IPv4) or 20 of family 2 (IPv6).
    """
    _, port, octets = _split_address(value)
    return str(ipaddress.ip_address(octets)), port


def _split_address(value: bytes) -> tuple[int, int, bytes]:
    size = len(value)
    if size < 4:
        raise ParseError(f"address attribute of {size} octets is too short [RFC 5389 §15.1]")
    family, port = _ADDRESS_HEADER.unpack_from(value)
    expected = {_FAMILY_IPV4: 8, _FAMILY_IPV6: 20}.get(family)
    if expected is None:
        raise ParseError(f"address family {family:#04x} is not 1 or 2 [RFC 5389 §15.1]", offset=1)
    if size != expected:
        raise ParseError(
            f"address attribute of family {family} must be {expected} octets, got {size} "
            "[RFC 5389 §15.1]"
        )
    return family, port, value[4:]


def _xor_mask(family: int, transaction_id: bytes) -> bytes:
    """The cookie alone (IPv4) or cookie + transaction ID (IPv6) [RFC 5389 §15.2]."""
    return _COOKIE_BYTES if family == _FAMILY_IPV4 else _COOKIE_BYTES + transaction_id


def _xor(data: bytes, mask: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(len(data), "big")


def encode_xor_address(address: Address, transaction_id: bytes) -> bytes:
    """The XOR-MAPPED-ADDRESS value of ``(host, port)`` [RFC 5389 §15.2].

    The port is XOR'ed with the cookie's top 16 bits, an IPv4 address with
    the cookie, an IPv6 address with the cookie and the transaction ID.

    Raises:
        ValueError: As :func:`encode_address`, or a transaction ID that is
            not 12 octets.
    """
    if len(transaction_id) != _TRANSACTION_ID_SIZE:
        raise ValueError(f"transaction ID must be 12 octets, got {len(transaction_id)}")
    host, port = address[0], address[1]
    _check_port(port)
    family, octets = _address_octets(host)
    mask = _xor_mask(family, transaction_id)
    return _ADDRESS_HEADER.pack(family, port ^ (MAGIC_COOKIE >> 16)) + _xor(octets, mask)


def decode_xor_address(value: bytes, transaction_id: bytes) -> Address:
    """``(host, port)`` from an XOR-MAPPED-ADDRESS value [RFC 5389 §15.2].

    Raises:
        ParseError: As :func:`decode_address`.
    """
    family, port, octets = _split_address(value)
    mask = _xor_mask(family, bytes(transaction_id))
    return str(ipaddress.ip_address(_xor(octets, mask))), port ^ (MAGIC_COOKIE >> 16)


def encode_error_code(code: int, reason: str | None = None) -> bytes:
    """The ERROR-CODE value: class, number and reason phrase [RFC 5389 §15.6].

    Args:
        code: 300..699.
        reason: The phrase; defaults to RFC 5389's for its codes, else "".

    Raises:
        ValueError: ``code`` outside 300..699, or a reason of 128 characters
            or more.
    """
    if not 300 <= code <= 699:
        raise ValueError(f"STUN error code must be 300..699, got {code} [RFC 5389 §15.6]")
    phrase = _REASONS.get(code, "") if reason is None else reason
    if len(phrase) > _MAX_TEXT_CHARACTERS:
        raise ValueError(f"reason phrase of {len(phrase)} characters exceeds 127 [RFC 5389 §15.6]")
    return bytes((0, 0, code // 100, code % 100)) + phrase.encode("utf-8")


def decode_error_code(value: bytes) -> tuple[int, str]:
    """``(code, reason)`` from an ERROR-CODE value [RFC 5389 §15.6].

    Raises:
        ParseError: Under 4 octets, a class outside 3..6, a number over 99, or
            a reason that is not UTF-8.
    """
    if len(value) < 4:
        raise ParseError(f"ERROR-CODE of {len(value)} octets is too short [RFC 5389 §15.6]")
    error_class = value[2] & 0x07
    number = value[3]
    if not 3 <= error_class <= 6 or number > 99:
        raise ParseError(
            f"ERROR-CODE class {error_class} number {number} is not 300..699 [RFC 5389 §15.6]",
            offset=2,
        )
    try:
        reason = value[4:].decode("utf-8")
    except UnicodeDecodeError as error:
        raise ParseError(
            "ERROR-CODE reason is not UTF-8 [RFC 5389 §15.6]", offset=4 + error.start
        ) from None
    return error_class * 100 + number, reason


def encode_unknown_attributes(types: Iterable[int]) -> bytes:
    """The UNKNOWN-ATTRIBUTES value: 16-bit attribute types [RFC 5389 §15.9]."""
    return b"".join(attribute_type.to_bytes(2, "big") for attribute_type in types)


def decode_unknown_attributes(value: bytes) -> tuple[int, ...]:
    """The attribute types listed in an UNKNOWN-ATTRIBUTES value [RFC 5389 §15.9].

    Raises:
        ParseError: An odd number of octets.
    """
    if len(value) & 1:
        raise ParseError(
            f"UNKNOWN-ATTRIBUTES of {len(value)} octets is not a list of 16-bit types "
            "[RFC 5389 §15.9]"
        )
    return struct.unpack(f"!{len(value) // 2}H", value)


# -- building requests and answers ---------------------------------------------------


def binding_request(
    transaction_id: bytes | None = None, *, software: str | None = None
) -> StunMessage:
    """A Binding request [RFC 5389 §7.1], with a fresh random transaction ID by default."""
    message = StunMessage(
        method=BINDING,
        message_class=StunClass.REQUEST,
        transaction_id=new_transaction_id() if transaction_id is None else transaction_id,
    )
    if software is not None:
        message.add_text(SOFTWARE, software)
    return message


def binding_success(
    request: StunMessage, address: tuple[Any, ...], *, software: str | None = None
) -> StunMessage:
    """The success response to ``request``: the source ``address`` it came from.

    The address goes in XOR-MAPPED-ADDRESS [RFC 5389 §7.3.1.1, §15.2];
    ``address`` may be a longer socket address (IPv6 flow info, scope), of
    which the first two items count.
    """
    message = StunMessage(
        method=request.method,
        message_class=StunClass.SUCCESS,
        transaction_id=request.transaction_id,
    )
    if software is not None:
        message.add_text(SOFTWARE, software)
    return message.add_xor_mapped_address((address[0], address[1]))


def error_response(
    request: StunMessage,
    code: int,
    reason: str | None = None,
    *,
    unknown: Iterable[int] = (),
    software: str | None = None,
) -> StunMessage:
    """An error response to ``request`` with ERROR-CODE [RFC 5389 §7.3.1.1, §15.6].

    Args:
        request: The request answered.
        code: 300..699, e.g. 420.
        reason: The phrase; RFC 5389's by default.
        unknown: For 420, the attribute types not understood
            (UNKNOWN-ATTRIBUTES, [RFC 5389 §15.9]).
        software: A SOFTWARE attribute, if any.
    """
    message = StunMessage(
        method=request.method,
        message_class=StunClass.ERROR,
        transaction_id=request.transaction_id,
    )
    if software is not None:
        message.add_text(SOFTWARE, software)
    message.add_error_code(code, reason)
    unknown_types = tuple(unknown)
    if unknown_types:
        message.add(UNKNOWN_ATTRIBUTES, encode_unknown_attributes(unknown_types))
    return message


def answer_request(
    data: bytes, source: tuple[Any, ...], *, software: str | None = None
) -> bytes | None:
    """What a plain STUN server sends back for one datagram (sans-I/O).

    Binding requests get a success with XOR-MAPPED-ADDRESS and FINGERPRINT;
    requests with comprehension-required attributes this module does not
    know get 420 with UNKNOWN-ATTRIBUTES [RFC 5389 §7.3.1]; other methods get
    400. Anything that is not a well-formed request (or fails its
    FINGERPRINT) gets nothing [RFC 5389 §7.3]. No credentials are checked.

    Args:
        data: The received datagram.
        source: Where it came from: ``(host, port, ...)``. An IPv4-mapped
            IPv6 host (a dual-stack socket) is reported as IPv4.
        software: A SOFTWARE attribute for the answers, if any.

    Returns:
        The answer on the wire, or None to stay silent.
    """
    if not is_stun(data):
        return None
    try:
        request = parse(data)
    except ParseError as error:
        logger.debug("STUN datagram from %s dropped: %s", source[:2], error)
        return None
    if request.message_class is not StunClass.REQUEST:
        return None
    if request.fingerprint is not None and not verify_fingerprint(data):
        return None
    unknown = [
        attribute_type
        for attribute_type, _ in request.attributes
        if attribute_type < 0x8000 and attribute_type not in _UNDERSTOOD
    ]
    if unknown:
        answer = error_response(request, 420, unknown=unknown, software=software)
    elif request.method != BINDING:
        answer = error_response(request, 400, software=software)
    else:
        host = ipaddress.ip_address(str(source[0]).split("%", 1)[0])
        if isinstance(host, ipaddress.IPv6Address) and host.ipv4_mapped is not None:
            host = host.ipv4_mapped
        answer = binding_success(request, (str(host), int(source[1])), software=software)
    return answer.serialize(fingerprint=True)


# -- demultiplexing -------------------------------------------------------------------

#: What :func:`classify` may answer.
PacketKind: TypeAlias = Literal["stun", "zrtp", "dtls", "turn-channel", "rtp", "rtcp", "unknown"]


def is_stun(data: bytes | bytearray | memoryview) -> bool:
    """Whether a datagram is an RFC 5389 STUN message, judged by its header.

    The first octet is 0..3 [RFC 7983 §7], there is room for the 20-octet
    header and octets 4..8 hold the magic cookie [RFC 5389 §6]. The rest is
    :func:`parse`'s job.
    """
    return len(data) >= _HEADER_SIZE and data[0] < 4 and data[4:8] == _COOKIE_BYTES


def classify(data: bytes | bytearray | memoryview) -> PacketKind:
    """Name the protocol of a datagram on a socket shared by several [RFC 7983 §7].

    It replaces the algorithm of [RFC 5764 §5.1.2]. By the first octet: 0..3
    STUN (which also needs :func:`is_stun`), 16..19 ZRTP, 20..63 DTLS,
    64..79 TURN ChannelData, 128..191 RTP or RTCP; anything else is
    "unknown", to be dropped. RTCP is told from RTP by the second octet:
    RTCP packet types 192..223 (SR 200 through XR 207 and the rest of the
    range) are what an RTP marker bit and payload types 64..95 would give,
    which RTP must not use when the two share a port [RFC 5761 §4].

    >>> classify(bytes.fromhex("80c8000c")), classify(bytes.fromhex("80000001"))
    ('rtcp', 'rtp')
    """
    if not data:
        return "unknown"
    first = data[0]
    if first < 4:
        return "stun" if is_stun(data) else "unknown"
    if 16 <= first <= 19:
        return "zrtp"
    if 20 <= first <= 63:
        return "dtls"
    if 64 <= first <= 79:
        return "turn-channel"
    if 128 <= first <= 191 and len(data) >= 2:
        return "rtcp" if 192 <= data[1] <= 223 else "rtp"
    return "unknown"


# -- the client transaction ---------------------------------------------------------------


def _check_schedule(rto: float, rc: int, rm: int) -> None:
    """Raise ValueError unless ``rto`` is positive and ``rc``, ``rm`` at least 1."""
    if not rto > 0:
        raise ValueError(f"rto must be positive, got {rto}")
    if rc < 1 or rm < 1:
        raise ValueError(f"rc and rm must be at least 1, got rc={rc} rm={rm}")


class StunTransaction:
    """A client transaction over UDP: the retransmission schedule, sans-I/O [RFC 5389 §7.2.1].

    The request goes out at 0, then again after RTO, 2 RTO, 4 RTO, ... until
    ``rc`` requests have been sent; if ``rm`` times the initial RTO passes
    after the last without a response, the transaction has failed. With
    the defaults that is sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s and
    the failure at 39.5 s. Times are the caller's clock, in seconds.

    Usage: :meth:`start` (and send the request), then whenever the clock
    reaches :attr:`next_deadline` call :meth:`timer_fired` (and send again
    when it says so); feed responses to :meth:`response_received`.

    Args:
        request: The request; responses are matched on its transaction ID.
        rto: The initial retransmission timeout (500 ms recommended).
        rc: How many requests to send in all (7).
        rm: The final wait, in initial RTOs (16).

    Raises:
        ValueError: ``rto`` not positive, or ``rc`` or ``rm`` under 1.
    """

    def __init__(
        self, request: StunMessage, *, rto: float = 0.5, rc: int = 7, rm: int = 16
    ) -> None:
        _check_schedule(rto, rc, rm)
        self.request = request
        self.rto = rto
        self.rc = rc
        self.rm = rm
        #: Requests sent so far.
        self.attempts = 0
        #: The response, once one arrived.
        self.response: StunMessage | None = None
        #: Whether the schedule ran out without a response.
        self.timed_out = False
        self._interval = rto
        self._deadline: float | None = None

    @property
    def done(self) -> bool:
        """Whether the transaction has ended, with a response or a timeout."""
        return self.response is not None or self.timed_out

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`timer_fired` must be called next; None before start and once done."""
        return None if self.done else self._deadline

    def start(self, now: float) -> None:
        """The first request is being sent at ``now``.

        Raises:
            RuntimeError: Started twice.
        """
        if self.attempts:
            raise RuntimeError("STUN transaction already started")
        self.attempts = 1
        self._deadline = now + (self.rto * self.rm if self.rc == 1 else self.rto)

    def timer_fired(self, now: float) -> bool:
        """The clock reached ``now``; return whether to send the request again.

        Early calls (before :attr:`next_deadline`) and calls once done change
        nothing and return False. After the final wait :attr:`timed_out`
        becomes True. The schedule counts from the deadlines, not from when
        the caller got round to calling, so a late timer does not stretch it.
        """
        deadline = self.next_deadline
        if deadline is None or now < deadline:
            return False
        if self.attempts >= self.rc:
            self.timed_out = True
            return False
        self.attempts += 1
        if self.attempts == self.rc:
            self._deadline = deadline + self.rto * self.rm
        else:
            self._interval *= 2
            self._deadline = deadline + self._interval
        return True

    def response_received(self, message: StunMessage) -> StunMessage | None:
        """Offer a received message; return it if it ends this transaction.

        A response (success or error) of the request's method and transaction
        ID ends it [RFC 5389 §7.3.3, §7.3.4]; anything else, or anything once
        done, returns None and changes nothing.
        """
        if (
            self.done
            or message.message_class not in (StunClass.SUCCESS, StunClass.ERROR)
            or message.transaction_id != self.request.transaction_id
            or message.method != self.request.method
        ):
            return None
        self.response = message
        return message
