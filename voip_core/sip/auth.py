"""Digest authentication for SIP, client and server side, sans-I/O.

SIP borrows HTTP Digest [RFC 3261 §22]; RFC 7616 updates it (SHA-256,
SHA-512-256, ``userhash``, ``username*``) and RFC 8760 brings those
algorithms to SIP. Everything here is pure and synchronous: header values
(text) in, header values out.

Client side: :meth:`Challenge.parse` reads a ``WWW-Authenticate`` or
``Proxy-Authenticate`` value, :func:`authorize` answers it, and a
:class:`DigestSession` does both for a user agent that keeps nonce counts
and must not retry forever with a wrong password. Server side:
:func:`make_challenge` and :func:`verify` (or :func:`check_authorization`,
which also tells a stale nonce from a wrong password).

Everything named here is importable from this module; it lives in
:mod:`voip_core.sip.digest` (the hash functions), :mod:`voip_core.sip.challenge`
(:class:`Challenge`, :class:`Credentials`, :class:`DigestAuthorization` and
the header grammar), :mod:`voip_core.sip.auth_client` (:func:`select_challenge`,
:func:`authorize`, :class:`DigestSession`) and :mod:`voip_core.sip.auth_server`
(:func:`make_challenge`, :func:`check_authorization`, :func:`verify`).

Secrets: a :class:`Credentials` repr hides its password, no object defined
here stores a password or an H(A1), the errors name realms only, and this
module does not log.

>>> challenge = Challenge.parse('Digest realm="example.com", nonce="8d5b1c", qop="auth"')
>>> value = authorize(challenge, Credentials("alice", "wonderland"),
...                   method="REGISTER", uri="sip:example.com", cnonce="0a4f113b")
>>> value.split(", ")[-1]
'response="9ac61d5873b0862c6bc4e747b0b84b83"'
"""

from __future__ import annotations

from voip_core.errors import AuthenticationError as AuthenticationError
from voip_core.errors import ParseError as ParseError
from voip_core.sip.auth_client import DigestSession, authorize, select_challenge
from voip_core.sip.auth_server import AuthResult, check_authorization, make_challenge, verify
from voip_core.sip.challenge import Challenge, Credentials, DigestAuthorization
from voip_core.sip.digest import (
    ALGORITHMS,
    digest_ha1,
    digest_ha2,
    digest_response,
    digest_userhash,
)

__all__ = [
    "ALGORITHMS",
    "AuthResult",
    "Challenge",
    "Credentials",
    "DigestAuthorization",
    "DigestSession",
    "authorize",
    "check_authorization",
    "digest_ha1",
    "digest_ha2",
    "digest_response",
    "digest_userhash",
    "make_challenge",
    "select_challenge",
    "verify",
]
