"""The exception hierarchy of voip-core: everything derives from :class:`VoIPError`."""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CallFailed",
    "CodecError",
    "NegotiationError",
    "ParseError",
    "PluginError",
    "VoIPError",
]


class VoIPError(Exception):
    """Base class of every error voip-core raises on purpose."""


class ParseError(VoIPError, ValueError):
    """Bytes from the network (or a user) that do not form a valid message.

    Args:
        message: What is wrong, in words.
        offset: Byte offset of the offending data, where known.
        line: The offending line (text protocols), where known.
        line_number: 1-based number of the offending line, where known.
    """

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        line: str | None = None,
        line_number: int | None = None,
    ) -> None:
        self.offset = offset
        self.line = line
        self.line_number = line_number
        detail = message
        if line_number is not None:
            detail += f" (line {line_number}"
            detail += f": {line!r})" if line is not None else ")"
        elif line is not None:
            detail += f" (line {line!r})"
        if offset is not None:
            detail += f" at offset {offset}"
        super().__init__(detail)


class CodecError(VoIPError):
    """A codec cannot be created, or it failed to encode or decode."""


class NegotiationError(VoIPError):
    """An SDP offer/answer exchange found nothing in common.

    SIP answers such an offer with ``status_code`` (488 Not Acceptable Here,
    [RFC 3261 §21.4.26]) and ``reason``.
    """

    status_code = 488
    reason = "Not Acceptable Here"


class PluginError(VoIPError):
    """A plugin could not be loaded, or no plugin provides what was asked for."""


class AuthenticationError(VoIPError):
    """Digest authentication cannot succeed with the credentials at hand.

    Raised when a server rejects our answer to its challenge (same nonce again
    without ``stale=true``, [RFC 7616 §3.3]), when no challenge is for a realm
    we have credentials for, or when none uses an algorithm we support. A UAC
    stops there instead of retrying in a loop [RFC 3261 §22.2]. The message
    names the realm, never a password.

    Args:
        message: What went wrong, in words.
        realm: The realm concerned, where there is one.
    """

    def __init__(self, message: str, *, realm: str | None = None) -> None:
        self.realm = realm
        super().__init__(message)


class CallFailed(VoIPError):
    """A call we placed did not connect: the final response, a timeout or a transport error.

    Attributes:
        status_code: The SIP status (486, 404, ...; 408 for a timeout, 503 for a
            transport error).
        reason: Its reason phrase.
    """

    def __init__(self, status_code: int, reason: str) -> None:
        self.status_code = status_code
        self.reason = reason
        super().__init__(f"{status_code} {reason}")
