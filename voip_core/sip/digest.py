"""Digest computation for SIP: H(A1), H(A2), the request-digest [RFC 7616 §3.4].

SIP borrows HTTP Digest [RFC 3261 §22]; RFC 7616 updates it (SHA-256,
SHA-512-256, ``userhash``) and RFC 8760 brings those algorithms to SIP.
These are the pure hash functions that :mod:`voip_core.sip.auth` builds on;
their results are password-equivalent and never logged.

>>> ha1 = digest_ha1("MD5", "alice", "example.com", "wonderland")
>>> ha2 = digest_ha2("MD5", "REGISTER", "sip:example.com")
>>> digest_response("MD5", ha1, ha2, nonce="8d5b1c", nc="00000001", cnonce="0a4f113b", qop="auth")
'9ac61d5873b0862c6bc4e747b0b84b83'
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = [
    "ALGORITHMS",
    "digest_ha1",
    "digest_ha2",
    "digest_response",
    "digest_userhash",
]

#: Algorithm tokens we answer and verify, as spelled in [RFC 7616 §3.3] and
#: [RFC 8760 §2.2]; matched case-insensitively.
ALGORITHMS: Final = (
    "MD5",
    "MD5-sess",
    "SHA-256",
    "SHA-256-sess",
    "SHA-512-256",
    "SHA-512-256-sess",
)

_CANONICAL: Final = {name.upper(): name for name in ALGORITHMS}
# hashlib names; "sha512_256" is FIPS 180-4 SHA-512/256 (its own initial value),
# not SHA-512 cut to 256 bits: that is what RFC 7616 §3.9.2 printed by mistake
# (erratum 4897).
_HASHLIB_NAMES: Final = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
# Preference when several challenges are offered [RFC 8760 §2.4].
_STRENGTH: Final = {"MD5": 1, "SHA-256": 2, "SHA-512-256": 3}
_QOPS: Final = ("auth", "auth-int")


# --- hashing [RFC 7616 §3.4.1-§3.4.4] ------------------------------------------------------


def _canonical_or_same(algorithm: str) -> str:
    """The canonical spelling of a known algorithm token (ASCII case-insensitive)."""
    return _CANONICAL.get(algorithm.upper(), algorithm) if algorithm.isascii() else algorithm


def _canonical_algorithm(algorithm: str) -> str:
    canonical = _canonical_or_same(algorithm)
    if canonical not in ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return canonical


def _hash(algorithm: str, data: str | bytes) -> str:
    """H(data) as lowercase hex [RFC 7616 §3.4.2]; text is hashed as UTF-8."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    base = _canonical_algorithm(algorithm).removesuffix("-sess")
    return hashlib.new(_HASHLIB_NAMES[base], data).hexdigest()


def digest_ha1(
    algorithm: str, username: str, realm: str, password: str, *, nonce: str = "", cnonce: str = ""
) -> str:
    """H(A1) [RFC 7616 §3.4.2].

    A1 is ``username:realm:password``; for a ``-sess`` algorithm it is
    ``H(username:realm:password):nonce:cnonce``. The username is the real one
    even when the header carries its userhash [RFC 7616 §3.4.4].

    Args:
        algorithm: One of :data:`ALGORITHMS` (any case).
        username: The user's name, unhashed.
        realm: The realm of the challenge.
        password: The shared secret.
        nonce: The server's nonce (``-sess`` only).
        cnonce: The client's nonce (``-sess`` only).

    Returns:
        The lowercase hex digest. It is password-equivalent: never log it.

    Raises:
        ValueError: The algorithm is not one of :data:`ALGORITHMS`.
    """
    secret = _hash(algorithm, f"{username}:{realm}:{password}")
    if algorithm.lower().endswith("-sess"):
        return _hash(algorithm, f"{secret}:{nonce}:{cnonce}")
    return secret


def digest_ha2(
    algorithm: str, method: str, uri: str, *, qop: str | None = None, body: bytes = b""
) -> str:
    """H(A2) [RFC 7616 §3.4.3]: ``method:uri``, plus ``:H(body)`` for ``qop=auth-int``.

    Raises:
        ValueError: The algorithm is not one of :data:`ALGORITHMS`.
    """
    if qop == "auth-int":
        return _hash(algorithm, f"{method}:{uri}:{_hash(algorithm, body)}")
    return _hash(algorithm, f"{method}:{uri}")


def digest_userhash(algorithm: str, username: str, realm: str) -> str:
    """H(username:realm), sent as ``username`` when ``userhash=true`` [RFC 7616 §3.4.4].

    Raises:
        ValueError: The algorithm is not one of :data:`ALGORITHMS`.
    """
    return _hash(algorithm, f"{username}:{realm}")


def digest_response(
    algorithm: str,
    ha1: str,
    ha2: str,
    *,
    nonce: str,
    nc: str | None = None,
    cnonce: str | None = None,
    qop: str | None = None,
) -> str:
    """The request-digest [RFC 7616 §3.4.1].

    ``KD(H(A1), nonce:nc:cnonce:qop:H(A2))`` with a qop, and the RFC 2069 form
    ``KD(H(A1), nonce:H(A2))`` without one [RFC 2617 §3.2.2.1], where
    ``KD(secret, data) = H(secret:data)``.

    Raises:
        ValueError: The algorithm is not one of :data:`ALGORITHMS`.
    """
    if qop is None:
        return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
