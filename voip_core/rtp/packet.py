"""RTP data packets on the wire: parse and serialize [RFC 3550 §5.1].

This module is layer 1 of voip-core: pure, synchronous, bytes in and objects
out. It runs once per received and once per sent packet, so the common case
(version 2, no padding, no extension, no CSRC list) takes a short path that
unpacks the fixed header with one precompiled :class:`struct.Struct` and
fills the packet's slots directly.

The fixed header [RFC 3550 §5.1]::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           timestamp                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           synchronization source (SSRC) identifier            |
    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
    |            contributing source (CSRC) identifiers             |
    |                             ....                              |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from voip_core.errors import ParseError

__all__ = [
    "ONE_BYTE_PROFILE",
    "TWO_BYTE_PROFILE",
    "HeaderExtension",
    "RTPPacket",
    "sequence_distance",
    "timestamp_distance",
]

#: The "defined by profile" value of an RFC 8285 one-byte header extension
#: [RFC 8285 §4.2].
ONE_BYTE_PROFILE = 0xBEDE

#: The top 12 bits of the "defined by profile" value of an RFC 8285 two-byte
#: header extension; the low 4 bits ("appbits") are free [RFC 8285 §4.3].
TWO_BYTE_PROFILE = 0x1000

_VERSION = 2
_FIXED_HEADER_SIZE = 12
_MAX_CSRC_COUNT = 15
_MAX_UINT16 = 0xFFFF
_MAX_UINT32 = 0xFFFFFFFF
_MAX_PAYLOAD_TYPE = 0x7F
_MAX_PADDING = 0xFF
_MAX_EXTENSION_DATA = 0xFFFF * 4

# First octet bits [RFC 3550 §5.1].
_PADDING_BIT = 0x20
_EXTENSION_BIT = 0x10
_CSRC_COUNT_MASK = 0x0F
# Version 2 with P, X and CC all zero: the common case on the fast path.
_PLAIN_FIRST_OCTET = _VERSION << 6

_FIXED_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")
# One precompiled Struct per possible CSRC count, index = count.
_CSRC_LISTS = tuple(struct.Struct(f"!{count}I") for count in range(_MAX_CSRC_COUNT + 1))

_unpack_fixed_header = _FIXED_HEADER.unpack_from
_pack_fixed_header = _FIXED_HEADER.pack
_new_object = object.__new__


def sequence_distance(a: int, b: int) -> int:
    """Return the shortest signed distance from sequence number ``a`` to ``b``.

    RTP sequence numbers are 16-bit and wrap [RFC 3550 §5.1]; comparing them
    uses modular arithmetic as in the receiver algorithm of
    [RFC 3550 Appendix A.1]. The result is ``b - a`` reduced modulo 2**16 into
    the range ``-32768 .. 32767``, so a positive value means ``b`` comes after
    ``a``.

    Args:
        a: The reference sequence number (taken modulo 2**16).
        b: The sequence number to compare with ``a`` (taken modulo 2**16).

    Returns:
        The signed distance; ``sequence_distance(65535, 0) == 1`` and
        ``sequence_distance(0, 65535) == -1``. Numbers exactly half the space
        apart give ``-32768``.
    """
    return ((b - a + 0x8000) & 0xFFFF) - 0x8000


def timestamp_distance(a: int, b: int) -> int:
    """Return the shortest signed distance from RTP timestamp ``a`` to ``b``.

    RTP timestamps are 32-bit and wrap [RFC 3550 §5.1]; the same modular
    arithmetic as for sequence numbers applies [RFC 3550 Appendix A.1]. The
    result is ``b - a`` reduced modulo 2**32 into ``-2**31 .. 2**31 - 1``.

    Args:
        a: The reference timestamp (taken modulo 2**32).
        b: The timestamp to compare with ``a`` (taken modulo 2**32).

    Returns:
        The signed distance in timestamp units; ``timestamp_distance(2**32 - 160,
        0) == 160``. Timestamps exactly half the space apart give ``-2**31``.
    """
    return ((b - a + 0x80000000) & 0xFFFFFFFF) - 0x80000000


@dataclass(slots=True, frozen=True)
class HeaderExtension:
    """The RTP header extension that follows the CSRC list [RFC 3550 §5.3.1].

    On the wire it is a 16-bit "defined by profile" value, a 16-bit length in
    32-bit words, then ``data``. RFC 8285 gives ``profile`` values that
    announce a list of extension elements; :meth:`elements` reads those.

    Attributes:
        profile: The 16-bit "defined by profile" value, e.g. ``0xBEDE`` for
            RFC 8285 one-byte elements [RFC 8285 §4.2].
        data: The extension body, without its 4-octet header; its length is a
            multiple of 4 octets [RFC 3550 §5.3.1].

    Raises:
        ValueError: ``profile`` is not a 16-bit value, or ``data`` is not a
            whole number (at most 65535) of 32-bit words.
    """

    profile: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= _MAX_UINT16:
            raise ValueError(f"header extension profile must be 0..65535, got {self.profile}")
        size = len(self.data)
        if size % 4:
            raise ValueError(
                f"header extension data must be a multiple of 4 octets, got {size} "
                "[RFC 3550 §5.3.1]"
            )
        if size > _MAX_EXTENSION_DATA:
            raise ValueError(
                f"header extension data must be at most {_MAX_EXTENSION_DATA} octets, got {size}"
            )

    def elements(self) -> list[tuple[int, bytes]]:
        """Read RFC 8285 extension elements as ``(id, data)`` pairs.

        Both forms are understood: one-byte headers (``profile == 0xBEDE``,
        [RFC 8285 §4.2]) and two-byte headers (``profile & 0xFFF0 ==
        0x1000``, [RFC 8285 §4.3]). Padding octets (ID 0) between and after
        elements are skipped. In the one-byte form an ID of 15 ends the list
        and its length is ignored [RFC 8285 §4.2].

        The reader is tolerant: an element whose data runs past the end of
        the extension ends the list, keeping the elements before it, and a
        profile that is neither form gives an empty list. It never raises.

        Returns:
            The elements in wire order; an ID may appear more than once.
        """
        profile = self.profile
        if profile == ONE_BYTE_PROFILE:
            return _one_byte_elements(self.data)
        if profile & 0xFFF0 == TWO_BYTE_PROFILE:
            return _two_byte_elements(self.data)
        return []


def _one_byte_elements(data: bytes) -> list[tuple[int, bytes]]:
    """Read one-byte-header elements: 4-bit ID, 4-bit length - 1 [RFC 8285 §4.2]."""
    elements: list[tuple[int, bytes]] = []
    size = len(data)
    position = 0
    while position < size:
        octet = data[position]
        identifier = octet >> 4
        if identifier == 0:  # A padding octet [RFC 8285 §4.2].
            position += 1
            continue
        if identifier == 15:  # Reserved: stop here [RFC 8285 §4.2].
            break
        start = position + 1
        end = start + (octet & 0x0F) + 1
        if end > size:
            break
        elements.append((identifier, data[start:end]))
        position = end
    return elements


def _two_byte_elements(data: bytes) -> list[tuple[int, bytes]]:
    """Read two-byte-header elements: 8-bit ID, 8-bit length [RFC 8285 §4.3]."""
    elements: list[tuple[int, bytes]] = []
    size = len(data)
    position = 0
    while position < size:
        identifier = data[position]
        if identifier == 0:  # A padding octet [RFC 8285 §4.3].
            position += 1
            continue
        if position + 1 >= size:
            break
        start = position + 2
        end = start + data[position + 1]
        if end > size:
            break
        elements.append((identifier, data[start:end]))
        position = end
    return elements


@dataclass(slots=True, kw_only=True)
class RTPPacket:
    """One RTP data packet [RFC 3550 §5.1].

    The version is always 2 and is not stored. The P, X and CC bits of the
    first octet are derived from ``padding``, ``extension`` and ``csrc``.
    Packets are mutable, so a sender may reuse one and step its sequence
    number and timestamp; :meth:`serialize` checks the fields again.

    Attributes:
        marker: The M bit; its meaning is set by the profile, e.g. the first
            packet of a talkspurt for audio [RFC 3551 §4.1].
        payload_type: The 7-bit PT field, 0..127 [RFC 3550 §5.1].
        sequence_number: 16-bit, increments by one per packet [RFC 3550 §5.1].
        timestamp: 32-bit sampling instant of the first payload octet
            [RFC 3550 §5.1].
        ssrc: 32-bit synchronization source identifier [RFC 3550 §5.1].
        csrc: Up to 15 contributing source identifiers [RFC 3550 §5.1].
        extension: The header extension, if the X bit is set
            [RFC 3550 §5.3.1].
        payload: The payload, without padding.
        padding: Number of padding octets at the end, including the final
            count octet; 0 means the P bit is clear [RFC 3550 §5.1]. The
            padding octets other than the count are sent as zeros and their
            received values are not kept.

    Raises:
        ValueError: A field is out of its wire range.
    """

    marker: bool = False
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    csrc: tuple[int, ...] = ()
    extension: HeaderExtension | None = None
    payload: bytes = b""
    padding: int = 0

    def __post_init__(self) -> None:
        self._check_fields()

    def _check_fields(self) -> None:
        """Raise ValueError naming the first field outside its wire range."""
        if not 0 <= self.payload_type <= _MAX_PAYLOAD_TYPE:
            raise ValueError(f"payload_type must be 0..127, got {self.payload_type}")
        if not 0 <= self.sequence_number <= _MAX_UINT16:
            raise ValueError(f"sequence_number must be 0..65535, got {self.sequence_number}")
        if not 0 <= self.timestamp <= _MAX_UINT32:
            raise ValueError(f"timestamp must be 0..2**32-1, got {self.timestamp}")
        if not 0 <= self.ssrc <= _MAX_UINT32:
            raise ValueError(f"ssrc must be 0..2**32-1, got {self.ssrc}")
        if len(self.csrc) > _MAX_CSRC_COUNT:
            raise ValueError(f"at most 15 CSRC identifiers fit, got {len(self.csrc)}")
        for source in self.csrc:
            if not 0 <= source <= _MAX_UINT32:
                raise ValueError(f"CSRC identifiers must be 0..2**32-1, got {source}")
        if not 0 <= self.padding <= _MAX_PADDING:
            raise ValueError(f"padding must be 0..255 octets, got {self.padding}")

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        """Parse one RTP packet from a datagram [RFC 3550 §5.1].

        Args:
            data: The whole UDP payload.

        Returns:
            The packet. Its fields come from the wire, so they are in range
            by construction and the constructor checks are not run again.

        Raises:
            ParseError: The datagram is shorter than the 12-octet fixed
                header, the version is not 2, the CSRC list or the header
                extension runs past the end, or the padding count is zero or
                larger than the octets after the header [RFC 3550 §5.1,
                §5.3.1]. ``offset`` points at the offending octets.
        """
        raw = data if type(data) is bytes else bytes(data)
        try:
            first, second, sequence_number, timestamp, ssrc = _unpack_fixed_header(raw)
        except struct.error:
            raise ParseError(
                f"RTP packet of {len(raw)} octets is shorter than the 12-octet fixed header",
                offset=len(raw),
            ) from None
        # Literals rather than the module constants: this runs per packet and
        # a constant load is cheaper than a global one.
        packet = _new_object(cls)
        packet.marker = second > 0x7F
        packet.payload_type = second & 0x7F
        packet.sequence_number = sequence_number
        packet.timestamp = timestamp
        packet.ssrc = ssrc
        if first == 0x80:  # V=2, P=0, X=0, CC=0: no CSRCs, extension or padding.
            packet.csrc = ()
            packet.extension = None
            packet.payload = raw[12:]
            packet.padding = 0
            return packet
        _parse_variable_part(packet, first, raw)
        return packet

    def serialize(self) -> bytes:
        """Return the packet as it goes on the wire [RFC 3550 §5.1].

        Returns:
            The header, CSRC list, extension, payload and padding.

        Raises:
            ValueError: A field was set outside its wire range after the
                packet was made.
        """
        payload_type = self.payload_type
        if payload_type >> 7:  # Negative or above 127.
            self._check_fields()
        try:
            if not self.csrc and self.extension is None and not self.padding:
                return (
                    _pack_fixed_header(
                        0x80,  # V=2, P=0, X=0, CC=0.
                        (payload_type | 0x80) if self.marker else payload_type,
                        self.sequence_number,
                        self.timestamp,
                        self.ssrc,
                    )
                    + self.payload
                )
            return self._serialize_variable_part(payload_type)
        except struct.error:
            self._check_fields()
            raise

    __bytes__ = serialize

    def _serialize_variable_part(self, payload_type: int) -> bytes:
        """Serialize a packet with CSRCs, an extension or padding."""
        csrc = self.csrc
        extension = self.extension
        padding = self.padding
        count = len(csrc)
        if count > _MAX_CSRC_COUNT or not 0 <= padding <= _MAX_PADDING:
            self._check_fields()
        first = _PLAIN_FIRST_OCTET | count
        if padding:
            first |= _PADDING_BIT
        if extension is not None:
            first |= _EXTENSION_BIT
        parts = [
            _pack_fixed_header(
                first,
                (payload_type | 0x80) if self.marker else payload_type,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            )
        ]
        if count:
            parts.append(_CSRC_LISTS[count].pack(*csrc))
        if extension is not None:
            body = extension.data
            parts.append(_EXTENSION_HEADER.pack(extension.profile, len(body) >> 2))
            parts.append(body)
        parts.append(self.payload)
        if padding:
            parts.append(bytes(padding - 1))
            parts.append(padding.to_bytes(1, "big"))
        return b"".join(parts)


def _parse_variable_part(packet: RTPPacket, first: int, raw: bytes) -> None:
    """Fill CSRCs, extension, payload and padding of a non-plain packet.

    Args:
        packet: The packet whose fixed-header fields are already set.
        first: The first octet of the datagram.
        raw: The whole datagram.

    Raises:
        ParseError: See :meth:`RTPPacket.parse`.
    """
    version = first >> 6
    if version != _VERSION:
        raise ParseError(f"RTP version {version}, expected 2 [RFC 3550 §5.1]", offset=0)
    size = len(raw)
    offset = _FIXED_HEADER_SIZE
    count = first & _CSRC_COUNT_MASK
    if count:
        end = offset + 4 * count
        if end > size:
            raise ParseError(
                f"CSRC list of {count} identifiers runs past the end of the "
                f"{size}-octet packet [RFC 3550 §5.1]",
                offset=offset,
            )
        packet.csrc = _CSRC_LISTS[count].unpack_from(raw, offset)
        offset = end
    else:
        packet.csrc = ()
    if first & _EXTENSION_BIT:
        if offset + 4 > size:
            raise ParseError(
                "header extension header runs past the end of the packet [RFC 3550 §5.3.1]",
                offset=offset,
            )
        profile, words = _EXTENSION_HEADER.unpack_from(raw, offset)
        start = offset + 4
        end = start + 4 * words
        if end > size:
            raise ParseError(
                f"header extension of {words} words runs past the end of the "
                f"{size}-octet packet [RFC 3550 §5.3.1]",
                offset=offset + 2,
            )
        packet.extension = HeaderExtension(profile, raw[start:end])
        offset = end
    else:
        packet.extension = None
    if first & _PADDING_BIT:
        if size == offset:
            raise ParseError(
                "padding bit set but no octet follows the header [RFC 3550 §5.1]",
                offset=offset,
            )
        padding = raw[-1]
        if padding == 0:
            raise ParseError(
                "padding count is zero; it must count itself [RFC 3550 §5.1]",
                offset=size - 1,
            )
        if padding > size - offset:
            raise ParseError(
                f"padding count {padding} exceeds the {size - offset} octets after "
                "the header [RFC 3550 §5.1]",
                offset=size - 1,
            )
        packet.payload = raw[offset : size - padding]
        packet.padding = padding
    else:
        packet.payload = raw[offset:]
        packet.padding = 0
