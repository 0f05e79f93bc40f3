"""The client side of Digest: choosing a challenge, answering it, a loop-safe session.

:func:`select_challenge` picks the strongest challenge we support
[RFC 8760 §2.4], :func:`authorize` answers it [RFC 3261 §22.4,
RFC 7616 §3.4], and :class:`DigestSession` keeps nonce counts for a user
agent and refuses to retry forever with a wrong password. It holds nonces
and counts only, never credentials.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from voip_core.errors import AuthenticationError, ParseError
from voip_core.sip.challenge import Challenge, Credentials, DigestAuthorization
from voip_core.sip.digest import digest_ha1, digest_ha2, digest_response, digest_userhash

__all__ = ["DigestSession", "authorize", "select_challenge"]


def select_challenge(
    challenges: Iterable[Challenge], credentials: Credentials | None = None
) -> Challenge:
    """Pick the challenge to answer: the strongest we support [RFC 8760 §2.4].

    SHA-512-256 beats SHA-256 beats MD5 (a ``-sess`` variant ranks with its
    base); among equals the first one offered wins. With ``credentials``,
    only challenges for a realm they may answer count.

    Raises:
        AuthenticationError: None offered, none for our realm, or none with
            an algorithm and qop we support.
    """
    offered = list(challenges)
    if not offered:
        raise AuthenticationError("no Digest challenge was offered")
    usable = [c for c in offered if credentials is None or credentials.matches(c.realm)]
    if not usable:
        realms = ", ".join(sorted({repr(c.realm) for c in offered}))
        assert credentials is not None
        raise AuthenticationError(
            f"no credentials for realm {realms} (ours are for {credentials.realm!r})",
            realm=offered[0].realm,
        )
    supported = [c for c in usable if c.supported]
    if not supported:
        algorithms = ", ".join(sorted({c.algorithm for c in usable}))
        raise AuthenticationError(
            f"no supported Digest algorithm or qop for realm {usable[0].realm!r} "
            f"(offered: {algorithms})",
            realm=usable[0].realm,
        )
    return max(supported, key=lambda challenge: challenge.strength)


def authorize(
    challenge: Challenge | Iterable[Challenge],
    credentials: Credentials,
    *,
    method: str,
    uri: str,
    body: bytes = b"",
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """Answer a challenge: the ``Authorization`` / ``Proxy-Authorization`` value.

    Per [RFC 3261 §22.4] and [RFC 7616 §3.4]: ``qop=auth`` when offered,
    ``auth-int`` (A2 carries H(body)) when only that is offered, and the
    RFC 2069 form (no qop, nc or cnonce) when the challenge has no qop. The
    algorithm is echoed when the challenge named it, opaque always. With
    ``userhash=true`` the username is sent hashed [RFC 7616 §3.4.4]; else a
    non-ASCII username goes as ``username*``. Text is hashed as UTF-8, as
    SIP is UTF-8 throughout [RFC 3261 §7.3.1].

    Args:
        challenge: One challenge, or several to choose from (strongest first,
            [RFC 8760 §2.4]; see :func:`select_challenge`).
        credentials: Who we are; their realm, when set, must match.
        method: The request method (``REGISTER``, ``INVITE``, ...).
        uri: The digest-uri: the Request-URI of the request [RFC 3261 §22.4].
        body: The message body, hashed for ``auth-int``.
        nc: How many times this nonce has been used, this time included.
        cnonce: The client nonce; a random one when None.

    Raises:
        AuthenticationError: No challenge for our realm, or none we support.
        ValueError: ``nc`` is outside 1..2**32-1.
    """
    chosen = select_challenge(
        [challenge] if isinstance(challenge, Challenge) else challenge, credentials
    )
    return _authorization(chosen, credentials, method, uri, body, nc, cnonce).serialize()


def _authorization(
    challenge: Challenge,
    credentials: Credentials,
    method: str,
    uri: str,
    body: bytes,
    nc: int,
    cnonce: str | None,
) -> DigestAuthorization:
    if not 1 <= nc <= 0xFFFFFFFF:
        raise ValueError(f"nonce count {nc} is outside 1..2**32-1")
    algorithm = challenge.algorithm
    qop: str | None = None
    if challenge.qop:
        qop = "auth" if "auth" in challenge.qop else "auth-int"
    # With no qop there is no cnonce [RFC 2617 §3.2.2], except that a -sess A1
    # cannot be computed without one: we send it then, as most stacks do.
    if qop is not None or algorithm.endswith("-sess"):
        cnonce = secrets.token_hex(16) if cnonce is None else cnonce
    else:
        cnonce = None
    nonce_count = f"{nc:08x}" if qop is not None else None
    ha1 = digest_ha1(
        algorithm,
        credentials.username,
        challenge.realm,
        credentials.password,
        nonce=challenge.nonce,
        cnonce=cnonce or "",
    )
    ha2 = digest_ha2(algorithm, method, uri, qop=qop, body=body)
    response = digest_response(
        algorithm, ha1, ha2, nonce=challenge.nonce, nc=nonce_count, cnonce=cnonce, qop=qop
    )
    username = credentials.username
    if challenge.userhash:
        username = digest_userhash(algorithm, username, challenge.realm)
    return DigestAuthorization(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=algorithm,
        algorithm_explicit=challenge.algorithm_explicit,
        qop=qop,
        nc=nonce_count,
        cnonce=cnonce,
        opaque=challenge.opaque,
        userhash=challenge.userhash,
    )


@dataclass(slots=True)
class _Attempt:
    """What we last sent for one realm in the current request."""

    nonce: str
    fresh: bool  # answered a challenge just received (not a reused nonce)
    stale_retried: bool = False


@dataclass(slots=True)
class DigestSession:
    """Digest state for one user agent's requests: nonce counts and loop guard.

    Call :meth:`preemptive_authorization` before each *new* request: it
    starts a new attempt and, once a nonce is known, reuses it with the next
    nonce count [RFC 7616 §3.4] (nothing to send before the first
    challenge). On a 401 or 407, :meth:`response_to` gives the header for the
    retry, or raises :class:`AuthenticationError` where retrying would loop:

    * the same nonce again, without ``stale=true``: the server refused the
      digest, so the password is wrong [RFC 7616 §3.3, RFC 7235 §3.1];
    * a new nonce without ``stale=true`` after we answered a nonce the
      server had just issued: equally a refusal (only ``stale=true`` says
      "right password, old nonce" [RFC 2617 §3.2.1]); servers that issue a
      fresh nonce on every 401 would otherwise make us loop. A new nonce
      after a *reused* one is answered once: the server may simply have
      forgotten the old nonce;
    * ``stale=true`` is answered with the new nonce (nonce count back to 1)
      once per request; a second stale in a row is an error.

    Holds nonces and counts only, never credentials.
    """

    _counts: dict[tuple[str, str], int] = field(default_factory=dict, init=False)
    _attempts: dict[str, _Attempt] = field(default_factory=dict, init=False)
    _last: tuple[str, Challenge] | None = field(default=None, init=False)

    def nonce_count(self, realm: str, nonce: str) -> int:
        """How many times we have used ``nonce`` for ``realm`` (0 if never)."""
        return self._counts.get((realm, nonce), 0)

    def reset(self) -> None:
        """Forget every nonce and attempt (after changing credentials, say)."""
        self._counts.clear()
        self._attempts.clear()
        self._last = None

    def preemptive_authorization(
        self, credentials: Credentials, *, method: str, uri: str, body: bytes = b""
    ) -> tuple[str, str] | None:
        """Start a new request: the header to send with it, if a nonce can be reused.

        Returns:
            ``(header_name, header_value)`` for the last challenge answered,
            with its nonce count incremented; None before any challenge or
            when ``credentials`` are for another realm.
        """
        self._attempts.clear()
        if self._last is None:
            return None
        header_name, challenge = self._last
        if not credentials.matches(challenge.realm):
            return None
        self._attempts[challenge.realm] = _Attempt(nonce=challenge.nonce, fresh=False)
        return header_name, self._answer(challenge, credentials, method, uri, body)

    def response_to(
        self,
        status_code: int,
        challenge_headers: str | Iterable[str],
        credentials: Credentials,
        method: str,
        uri: str,
        body: bytes = b"",
    ) -> tuple[str, str]:
        """Answer a 401 or 407 [RFC 3261 §22.2, §22.3].

        Args:
            status_code: 401 (answered in ``Authorization``) or 407 (in
                ``Proxy-Authorization``).
            challenge_headers: The ``WWW-Authenticate`` (401) or
                ``Proxy-Authenticate`` (407) values; malformed ones are skipped.
            credentials: Who we are.
            method: The method of the request being retried.
            uri: Its Request-URI.
            body: Its body (for ``qop=auth-int``).

        Returns:
            ``(header_name, header_value)`` to add to the retried request.

        Raises:
            AuthenticationError: No usable challenge, none for our realm, or
                the server refused our answer (see the class notes).
            ValueError: ``status_code`` is neither 401 nor 407.
        """
        if status_code == 401:
            header_name = "Authorization"
        elif status_code == 407:
            header_name = "Proxy-Authorization"
        else:
            raise ValueError(f"only 401 and 407 carry challenges, not {status_code}")
        values = [challenge_headers] if isinstance(challenge_headers, str) else challenge_headers
        challenges: list[Challenge] = []
        for value in values:
            try:
                challenges.extend(Challenge.parse_all(value))
            except ParseError:
                continue
        if not challenges:
            raise AuthenticationError(f"no usable Digest challenge in the {status_code} response")
        challenge = select_challenge(challenges, credentials)
        realm = challenge.realm
        attempt = self._attempts.get(realm)
        stale_retried = False
        if attempt is not None:
            if challenge.stale:
                if attempt.stale_retried:
                    raise AuthenticationError(
                        f"server keeps reporting a stale nonce for realm {realm!r}", realm=realm
                    )
                stale_retried = True
            elif challenge.nonce == attempt.nonce or attempt.fresh:
                raise AuthenticationError(f"wrong credentials for realm {realm!r}", realm=realm)
        self._attempts[realm] = _Attempt(
            nonce=challenge.nonce, fresh=True, stale_retried=stale_retried
        )
        self._last = (header_name, challenge)
        return header_name, self._answer(challenge, credentials, method, uri, body)

    def _answer(
        self, challenge: Challenge, credentials: Credentials, method: str, uri: str, body: bytes
    ) -> str:
        key = (challenge.realm, challenge.nonce)
        for old in [k for k in self._counts if k[0] == challenge.realm and k != key]:
            del self._counts[old]  # a realm's old nonces are never used again
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        return _authorization(challenge, credentials, method, uri, body, count, None).serialize()
