"""The server side of Digest: challenges out, credentials checked [RFC 7616 §3.3, §3.4].

:func:`make_challenge` writes a ``WWW-Authenticate`` / ``Proxy-Authenticate``
value; :func:`check_authorization` recomputes the digest of an
``Authorization`` value in constant time and tells a stale nonce from a wrong
password; :func:`verify` is its yes/no form.
"""

from __future__ import annotations

import enum
import hmac
import re
import secrets
from collections.abc import Callable

from voip_core.errors import ParseError
from voip_core.sip.challenge import _HEX, Challenge, DigestAuthorization
from voip_core.sip.digest import (
    _QOPS,
    ALGORITHMS,
    _canonical_algorithm,
    digest_ha1,
    digest_ha2,
    digest_response,
)

__all__ = ["AuthResult", "check_authorization", "make_challenge", "verify"]

_NONCE_COUNT = re.compile(r"[0-9a-fA-F]{8}")


def make_challenge(
    realm: str,
    *,
    algorithm: str = "MD5",
    qop: str | None = "auth",
    stale: bool = False,
    opaque: str | None = None,
    nonce: str | None = None,
) -> str:
    """A ``WWW-Authenticate`` / ``Proxy-Authenticate`` value [RFC 7616 §3.3].

    Args:
        realm: The protection space (a host or domain name, by convention).
        algorithm: One of :data:`ALGORITHMS`; always written out.
        qop: ``"auth"``, ``"auth-int"``, ``"auth,auth-int"``, or None for an
            RFC 2069 challenge.
        stale: Set when the last request had the right digest but an expired
            nonce [RFC 7616 §3.3].
        opaque: Echoed back by the client.
        nonce: The nonce; 128 random bits in hex (:mod:`secrets`) when None.

    Raises:
        ValueError: Unknown algorithm or qop, or a value holding CR, LF or NUL.
    """
    qops = [] if qop is None else [item.strip().lower() for item in qop.split(",")]
    if any(item not in _QOPS for item in qops):
        raise ValueError(f"unsupported qop {qop!r}")
    return Challenge(
        realm=realm,
        nonce=secrets.token_hex(16) if nonce is None else nonce,
        algorithm=_canonical_algorithm(algorithm),
        algorithm_explicit=True,
        qop=qops,
        opaque=opaque,
        stale=stale,
    ).serialize()


class AuthResult(enum.Enum):
    """What :func:`check_authorization` found."""

    #: The digest is right and the nonce is valid.
    OK = "ok"
    #: The digest is right but the nonce is not valid (any more): challenge
    #: again with ``stale=true`` [RFC 7616 §3.3].
    STALE = "stale"
    #: Malformed, unknown user, wrong digest: challenge again (or 403).
    REJECTED = "rejected"


def check_authorization(
    authorization_value: str,
    *,
    password_lookup: Callable[[str, str], str | None],
    method: str,
    uri: str,
    nonce_is_valid: Callable[[str], bool],
    body: bytes = b"",
    userhash_lookup: Callable[[str, str], str | None] | None = None,
) -> AuthResult:
    """Check the credentials of a request [RFC 7616 §3.4, RFC 3261 §22.4].

    The digest is recomputed and compared in constant time; the nonce is only
    judged once the digest is right, so that a stale nonce can be told from a
    wrong password. Never raises on bad input: that is :attr:`AuthResult.REJECTED`.

    Args:
        authorization_value: The ``Authorization`` / ``Proxy-Authorization`` value.
        password_lookup: ``(username, realm)`` to the password, None if unknown.
        method: The request's method.
        uri: The request's Request-URI; the digest-uri must be the same string.
        nonce_is_valid: Whether the server issued this nonce and it is current.
        body: The request's body (for ``qop=auth-int``).
        userhash_lookup: ``(userhash, realm)`` to the username, for clients
            that send ``userhash=true`` [RFC 7616 §3.4.4]; without it those fail.
    """
    try:
        authorization = DigestAuthorization.parse(authorization_value)
    except ParseError:
        return AuthResult.REJECTED
    algorithm, qop = authorization.algorithm, authorization.qop
    if algorithm not in ALGORITHMS or authorization.uri != uri:
        return AuthResult.REJECTED
    if qop is not None and (
        qop not in _QOPS
        or authorization.cnonce is None
        or authorization.nc is None
        or _NONCE_COUNT.fullmatch(authorization.nc) is None
    ):
        return AuthResult.REJECTED
    if algorithm.endswith("-sess") and authorization.cnonce is None:
        return AuthResult.REJECTED
    username: str | None = authorization.username
    if authorization.userhash:
        lookup = userhash_lookup or (lambda _userhash, _realm: None)
        username = lookup(authorization.username, authorization.realm)
    password = None if username is None else password_lookup(username, authorization.realm)
    known = username is not None and password is not None
    if username is None or password is None:  # compute anyway: timing must not tell who exists
        username, password = "", secrets.token_hex(16)
    try:
        ha1 = digest_ha1(
            algorithm,
            username,
            authorization.realm,
            password,
            nonce=authorization.nonce,
            cnonce=authorization.cnonce or "",
        )
        ha2 = digest_ha2(algorithm, method, uri, qop=qop, body=body)
        expected = digest_response(
            algorithm,
            ha1,
            ha2,
            nonce=authorization.nonce,
            nc=authorization.nc,
            cnonce=authorization.cnonce,
            qop=qop,
        )
    except UnicodeError:
        return AuthResult.REJECTED
    given = authorization.response
    if _HEX.fullmatch(given) is None:
        return AuthResult.REJECTED
    if (
        not hmac.compare_digest(expected.encode("ascii"), given.lower().encode("ascii"))
        or not known
    ):
        return AuthResult.REJECTED
    if not nonce_is_valid(authorization.nonce):
        return AuthResult.STALE
    return AuthResult.OK


def verify(
    authorization_value: str,
    *,
    password_lookup: Callable[[str, str], str | None],
    method: str,
    uri: str,
    nonce_is_valid: Callable[[str], bool],
    body: bytes = b"",
    userhash_lookup: Callable[[str, str], str | None] | None = None,
) -> bool:
    """Whether a request's credentials are right and its nonce valid.

    :func:`check_authorization` with a yes/no answer; see it for the
    arguments. A UAS that wants to send ``stale=true`` uses that instead.
    """
    result = check_authorization(
        authorization_value,
        password_lookup=password_lookup,
        method=method,
        uri=uri,
        nonce_is_valid=nonce_is_valid,
        body=body,
        userhash_lookup=userhash_lookup,
    )
    return result is AuthResult.OK
