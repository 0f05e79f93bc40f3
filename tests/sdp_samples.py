"""SDP samples shared by the tests under tests/sdp: bodies of captured SIP messages."""

from __future__ import annotations

from pathlib import Path


def sdp_body(vectors: Path, name: str) -> bytes:
    """The body of a captured SIP message: everything after the first blank line."""
    message = (vectors / "realworld" / name).read_bytes()
    for separator in (b"\r\n\r\n", b"\n\n"):
        _, found, body = message.partition(separator)
        if found:
            return body
    raise AssertionError(f"{name} has no body")
