"""Framing: where a SIP message's header section ends, and messages cut from a stream.

:func:`_blank_line` finds the empty line that ends a header section
[RFC 3261 §7]; :class:`StreamFramer` cuts a TCP/TLS byte stream into
messages by Content-Length and reports RFC 5626 keep-alives between them
[RFC 3261 §18.3, RFC 5626 §4.4.1]. Both are importable from
:mod:`voip_core.sip.message` too.
"""

from __future__ import annotations

import enum
import re

from voip_core.errors import ParseError

__all__ = ["MAX_MESSAGE_SIZE", "KeepAlive", "StreamFramer"]

#: Largest message accepted, in bytes: the largest UDP payload; the stream
#: framer enforces it too, so that a peer cannot make us buffer without end.
MAX_MESSAGE_SIZE = 65535


def _blank_line(data: bytes | bytearray, start: int) -> tuple[int, int] | None:
    """Where the first empty line starts (the header section's end) and ends (the body's start).

    CRLF CRLF [RFC 3261 §7], or the same with bare LFs; ``None`` when there is none.
    """
    end = data.find(b"\r\n\r\n", start)
    limit = len(data) if end == -1 else end
    bare = data.find(b"\n\n", start, limit)
    mixed = data.find(b"\n\r\n", start, limit)
    if bare == -1 and mixed == -1:
        return None if end == -1 else (end, end + 4)
    if mixed == -1 or (bare != -1 and bare < mixed):
        return (bare - 1 if data[bare - 1 : bare] == b"\r" else bare), bare + 2
    return mixed, mixed + 3


class KeepAlive(enum.Enum):
    """An RFC 5626 keep-alive seen between messages on a stream [RFC 5626 §4.4.1].

    ``PING`` is a double CRLF (answer it with a single CRLF); ``PONG`` is
    a single CRLF (the answer to our ping).
    """

    PING = b"\r\n\r\n"
    PONG = b"\r\n"


_CONTENT_LENGTH_LINE = re.compile(
    rb"^(?:content-length|l)[ \t]*:((?:[^\r\n]|\r(?!\n))*(?:\r?\n[ \t][^\r\n]*)*)",
    re.IGNORECASE | re.MULTILINE,
)


class StreamFramer:
    """Cut a TCP/TLS byte stream into SIP messages [RFC 3261 §18.3].

    Feed it whatever the socket gives; it returns every complete message
    (bytes, for :func:`parse_message`) and every keep-alive between
    messages. Content-Length is required on streams; a message without it,
    with a bad one, or larger than ``max_message_size`` raises ParseError,
    after which the framer is spent and the connection should be closed
    [RFC 4475 §3.1.2.2-3].

    A CRLF CRLF between messages is a ``KeepAlive.PING``, a lone CRLF a
    ``KeepAlive.PONG`` [RFC 5626 §4.4.1]. A CRLF directly followed by a
    message is still reported as a ``PONG`` (it is harmless: RFC 3261 §7.5
    ignores CRLFs before a start line). A ping whose two CRLFs arrive in
    different reads is reported as two pongs, as the framer cannot wait to
    see whether a second CRLF follows without delaying a real pong.

    >>> framer = StreamFramer()
    >>> framer.feed(b"\\r\\n\\r\\nOPTIONS sip:a SIP/2.0\\r\\nl: 2\\r\\n\\r\\nhi")
    [<KeepAlive.PING: b'\\r\\n\\r\\n'>, b'OPTIONS sip:a SIP/2.0\\r\\nl: 2\\r\\n\\r\\nhi']
    """

    __slots__ = ("_buffer", "_failed", "max_message_size")

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self.max_message_size = max_message_size
        self._buffer = bytearray()
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | KeepAlive]:
        """Add ``data`` and return the messages and keep-alives it completes, in order.

        Raises:
            ParseError: unframeable input; the stream cannot be resynchronised.
        """
        if self._failed:
            raise ParseError("stream framing already failed; close the connection")
        buffer = self._buffer
        buffer += data
        out: list[bytes | KeepAlive] = []
        try:
            while buffer:
                if buffer[0] == 0x0D or buffer[0] == 0x0A:
                    if buffer.startswith(b"\r\n\r\n"):
                        out.append(KeepAlive.PING)
                        del buffer[:4]
                    elif buffer.startswith(b"\r\n"):
                        out.append(KeepAlive.PONG)
                        del buffer[:2]
                    elif buffer == b"\r":
                        break  # the rest of a CRLF is still on its way
                    else:  # a bare LF, or CR without LF: skip it [RFC 3261 §7.5]
                        del buffer[:1]
                    continue
                message = self._next_message(buffer)
                if message is None:
                    break
                out.append(message)
        except ParseError:
            self._failed = True
            raise
        return out

    def _next_message(self, buffer: bytearray) -> bytes | None:
        found = _blank_line(buffer, 0)
        if found is None:
            if len(buffer) > self.max_message_size:
                raise ParseError(f"header section exceeds {self.max_message_size} bytes")
            return None
        end, body_start = found
        head = bytes(buffer[:end]) + b"\n"
        values = [
            match[1].strip() for match in _CONTENT_LENGTH_LINE.finditer(head, head.find(b"\n") + 1)
        ]
        if not values:
            raise ParseError("Content-Length is required on stream transports [RFC 3261 §18.3]")
        if len(set(values)) > 1:
            raise ParseError("conflicting Content-Length values [RFC 3261 §20.14]")
        text = values[0]
        if not text.isdigit() or len(text.lstrip(b"0")) > 9:
            raise ParseError(f"bad Content-Length {text[:40]!r} [RFC 3261 §20.14]")
        total = body_start + int(text)
        if total > self.max_message_size:
            raise ParseError(f"message of {total} bytes exceeds {self.max_message_size}")
        if len(buffer) < total:
            return None
        message = bytes(buffer[:total])
        del buffer[:total]
        return message
