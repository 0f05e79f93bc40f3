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

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Final

from voip_core.errors import AuthenticationError, ParseError

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

_WHITESPACE = " \t\r\n"
# token [RFC 3261 §25.1]
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# token68 [RFC 7235 §2.1]: the credentials of schemes such as Basic or Negotiate.
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# quoted-string with quoted-pair [RFC 3261 §25.1]; CR, LF and NUL never inside.
_QUOTED = re.compile(r'"((?:[^"\\\r\n\x00]|\\[^\r\n\x00])*)"')
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
# An unquoted value: tolerant of stacks that leave '/', ':' or '=' unquoted.
_BARE = re.compile(r'[^ \t\r\n,"]+')
_EQUALS_NEXT = re.compile(r"[ \t\r\n]*=")
_LIST_END_NEXT = re.compile(r"[ \t\r\n]*(?:,|\Z)")
_HEX = re.compile(r"[0-9a-fA-F]+")
_NONCE_COUNT = re.compile(r"[0-9a-fA-F]{8}")
# attr-char [RFC 5987 §3.2.1]: what ext-value leaves unescaped.
_ATTR_CHARS = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~"
)
_EXT_VALUE = re.compile(r"([A-Za-z0-9!#$%&+\-^_`{}~]+)'[A-Za-z0-9\-]*'(.*)", re.DOTALL)

_CHALLENGE_PARAMETERS = frozenset(
    {"realm", "nonce", "opaque", "algorithm", "qop", "stale", "domain", "userhash", "charset"}
)
_AUTHORIZATION_PARAMETERS = frozenset(
    {"username", "username*", "realm", "nonce", "uri", "response", "algorithm", "cnonce",
     "opaque", "qop", "nc", "userhash"}
)  # fmt: skip


# --- hashing [RFC 7616 §3.4.1-§3.4.4] ------------------------------------------------------


def _canonical_or_same(algorithm: str) -> str:
    """The canonical spelling of a known algorithm token (ASCII case-insensitive)."""
    return _CANONICAL.get(algorithm.upper(), algorithm) if algorithm.isascii() else algorithm


def _canonical_algorithm(algorithm: str) -> str:
    canonical = _canonical_or_same(algorithm)
    if canonical not in ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return canonical


def _excerpt(text: str, limit: int = 120) -> str:
    """``repr`` of a header value for an error message, cut short when long."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


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


# --- the auth-header grammar [RFC 3261 §25.1, RFC 7235 §2.1] -------------------------------


@dataclass(slots=True)
class _RawChallenge:
    scheme: str
    params: list[tuple[str, str]] = field(default_factory=list)
    token68: str | None = None


class _Scanner:
    """A cursor over one header value."""

    __slots__ = ("position", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def at_end(self) -> bool:
        return self.position >= len(self.text)

    def peek(self) -> str:
        return self.text[self.position] if self.position < len(self.text) else ""

    def skip(self, characters: str) -> None:
        while self.position < len(self.text) and self.text[self.position] in characters:
            self.position += 1

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        found = pattern.match(self.text, self.position)
        if found is not None:
            self.position = found.end()
        return found

    def fail(self, message: str) -> ParseError:
        return ParseError(f"{message} in {_excerpt(self.text)}", offset=self.position)

    def parameter(self) -> tuple[str, str]:
        """``name = (token / quoted-string)``, the name lowercased."""
        name = self.match(_TOKEN)
        if name is None:
            raise self.fail("expected a parameter name")
        self.skip(_WHITESPACE)
        if self.peek() != "=":
            raise self.fail(f"expected '=' after {_excerpt(name.group(), 40)}")
        self.position += 1
        self.skip(_WHITESPACE)
        if self.peek() == '"':
            quoted = self.match(_QUOTED)
            if quoted is None:
                raise self.fail("unterminated or invalid quoted string")
            value = _QUOTED_PAIR.sub(r"\1", quoted.group(1))
        else:
            bare = self.match(_BARE)
            if bare is None:
                raise self.fail(f"parameter {_excerpt(name.group(), 40)} has no value")
            value = bare.group()
        self.skip(_WHITESPACE)
        if not (self.at_end() or self.peek() == ","):
            raise self.fail("expected ',' between parameters")
        return name.group().lower(), value

    def starts_parameter(self) -> bool:
        """Whether a ``name =`` comes next (else a new challenge's scheme)."""
        found = _TOKEN.match(self.text, self.position)
        if found is None:
            return True  # let parameter() report what is there
        return _EQUALS_NEXT.match(self.text, found.end()) is not None


def _parse_challenges(value: str) -> list[_RawChallenge]:
    """Split a header value into challenges: ``1#challenge`` [RFC 7235 §4.1]."""
    scanner = _Scanner(value)
    challenges: list[_RawChallenge] = []
    scanner.skip(_WHITESPACE + ",")
    while not scanner.at_end():
        scheme = scanner.match(_TOKEN)
        if scheme is None:
            raise scanner.fail("expected an authentication scheme")
        challenge = _RawChallenge(scheme.group())
        challenges.append(challenge)
        if not scanner.at_end() and scanner.peek() not in _WHITESPACE + ",":
            raise scanner.fail("expected whitespace after the scheme")
        scanner.skip(_WHITESPACE)
        token68 = _TOKEN68.match(value, scanner.position)
        if token68 is not None and _LIST_END_NEXT.match(value, token68.end()) is not None:
            challenge.token68 = token68.group()
            scanner.position = token68.end()
        if challenge.token68 is None and not (scanner.at_end() or scanner.peek() == ","):
            challenge.params.append(scanner.parameter())
            while True:
                scanner.skip(_WHITESPACE + ",")
                if scanner.at_end() or not scanner.starts_parameter():
                    break
                challenge.params.append(scanner.parameter())
        scanner.skip(_WHITESPACE + ",")
    if not challenges:
        raise ParseError(f"no challenge in {_excerpt(value)}")
    return challenges


def _parameters(raw: _RawChallenge) -> dict[str, str]:
    if raw.scheme.lower() != "digest":
        raise ParseError(
            f"not a Digest challenge or credentials: scheme {_excerpt(raw.scheme, 40)}"
        )
    if raw.token68 is not None:
        raise ParseError(f"Digest takes parameters, not {_excerpt(raw.token68, 40)}")
    parameters: dict[str, str] = {}
    for name, value in raw.params:
        if name in parameters:  # [RFC 7235 §2.1]
            raise ParseError(f"parameter {_excerpt(name, 40)} appears twice")
        parameters[name] = value
    return parameters


def _required(parameters: dict[str, str], name: str) -> str:
    value = parameters.get(name)
    if value is None:
        raise ParseError(f"Digest {name!r} is missing")
    return value


def _flag(value: str | None) -> bool:
    """``stale`` and ``userhash``: "true" in any case is true, anything else false."""
    return value is not None and value.lower() == "true"


def _quote(value: str) -> str:
    if any(character in value for character in "\r\n\x00"):
        raise ValueError(f"CR, LF and NUL cannot be carried in a header: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _token_or_quoted(value: str) -> str:
    return value if _TOKEN.fullmatch(value) else _quote(value)


def _check_name(name: str) -> str:
    if _TOKEN.fullmatch(name) is None:
        raise ValueError(f"parameter name is not a token: {name!r}")
    return name


def _encode_ext_value(text: str) -> str:
    """``UTF-8''`` and percent-encoding [RFC 5987 §3.2.1], for ``username*``."""
    encoded = text.encode("utf-8", "surrogateescape")
    return "UTF-8''" + "".join(
        chr(byte) if byte in _ATTR_CHARS else f"%{byte:02X}" for byte in encoded
    )


def _decode_ext_value(value: str) -> str:
    """Read ``charset'language'value-chars`` [RFC 5987 §3.2.1]."""
    found = _EXT_VALUE.fullmatch(value)
    if found is None:
        raise ParseError(f"not an RFC 5987 ext-value: {_excerpt(value)}")
    charset, escaped = found.group(1).lower(), found.group(2)
    if charset not in ("utf-8", "iso-8859-1"):
        raise ParseError(f"unsupported charset {found.group(1)!r} in {value!r}")
    data = bytearray()
    index = 0
    while index < len(escaped):
        character = escaped[index]
        if character == "%":
            pair = escaped[index + 1 : index + 3]
            if _HEX.fullmatch(pair) is None or len(pair) != 2:
                raise ParseError(f"bad percent-escape in {_excerpt(value)}")
            data.append(int(pair, 16))
            index += 3
        elif ord(character) < 0x80:
            data.append(ord(character))
            index += 1
        else:
            raise ParseError(f"non-ASCII character in an ext-value: {_excerpt(value)}")
    try:
        return data.decode(charset)
    except UnicodeDecodeError as error:
        raise ParseError(f"{_excerpt(value)} is not valid {charset}") from error


def _needs_ext_value(username: str) -> bool:
    """Characters a quoted-string cannot carry: non-ASCII, controls [RFC 7616 §3.4.4]."""
    return any(not (" " <= character <= "~" or character == "\t") for character in username)


# --- challenges ----------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Challenge:
    """One Digest challenge, from ``WWW-Authenticate`` or ``Proxy-Authenticate``.

    The parameters are those of [RFC 7616 §3.3] (SIP: [RFC 3261 §22.4,
    §25.1]). Parameters this module does not know are kept in ``extra``
    (names lowercased) and written back by :meth:`serialize`.

    Attributes:
        realm: The protection space; shown to users, compared exactly.
        nonce: The server's nonce, opaque to us.
        algorithm: Canonical spelling for the tokens in :data:`ALGORITHMS`;
            any other token is kept as written (see :attr:`supported`).
        algorithm_explicit: Whether the challenge named its algorithm; when it
            did, the answer names it too [RFC 2617 §3.2.2].
        qop: The offered quality-of-protection values, lowercased, in order;
            empty for an RFC 2069 challenge.
        opaque: Returned unchanged in the answer.
        stale: The previous answer was right but its nonce had expired.
        domain: The URIs of the ``domain`` parameter, split on whitespace.
        userhash: The server accepts a hashed username.
        charset: ``UTF-8`` when the server announced it.
        extra: Unknown parameters, kept.
    """

    scheme: ClassVar[str] = "Digest"

    realm: str
    nonce: str
    algorithm: str = "MD5"
    algorithm_explicit: bool = False
    qop: list[str] = field(default_factory=list)
    opaque: str | None = None
    stale: bool = False
    domain: list[str] = field(default_factory=list)
    userhash: bool = False
    charset: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str) -> Challenge:
        """Read a header value that holds one Digest challenge.

        Other schemes beside it (``Basic ...``) are skipped.

        Raises:
            ParseError: The value is malformed, holds no Digest challenge, or
                holds more than one (use :meth:`parse_all`).
        """
        challenges = cls.parse_all(value)
        if not challenges:
            raise ParseError(f"not a Digest challenge: {_excerpt(value)}")
        if len(challenges) > 1:
            raise ParseError(f"{len(challenges)} Digest challenges in one value; use parse_all")
        return challenges[0]

    @classmethod
    def parse_all(cls, value: str) -> list[Challenge]:
        """Read every Digest challenge in a header value, in order [RFC 7235 §4.1].

        Challenges of other schemes are well-formed but not ours: they are
        skipped, so the list may be empty.

        Raises:
            ParseError: The value does not follow the challenge grammar, or a
                Digest challenge lacks realm or nonce or repeats a parameter.
        """
        return [
            cls._from_raw(raw) for raw in _parse_challenges(value) if raw.scheme.lower() == "digest"
        ]

    @classmethod
    def _from_raw(cls, raw: _RawChallenge) -> Challenge:
        parameters = _parameters(raw)
        realm = _required(parameters, "realm")
        nonce = _required(parameters, "nonce")
        algorithm = parameters.get("algorithm")
        qop = parameters.get("qop", "")
        return cls(
            realm=realm,
            nonce=nonce,
            algorithm="MD5" if algorithm is None else _canonical_or_same(algorithm),
            algorithm_explicit=algorithm is not None,
            qop=[item.strip(_WHITESPACE).lower() for item in qop.split(",") if item.strip()],
            opaque=parameters.get("opaque"),
            stale=_flag(parameters.get("stale")),
            domain=parameters.get("domain", "").split(),
            userhash=_flag(parameters.get("userhash")),
            charset=parameters.get("charset"),
            extra={k: v for k, v in parameters.items() if k not in _CHALLENGE_PARAMETERS},
        )

    @property
    def supported(self) -> bool:
        """Whether we can answer: a known algorithm, and ``auth``/``auth-int`` or no qop."""
        if self.algorithm not in ALGORITHMS:
            return False
        return not self.qop or any(qop in _QOPS for qop in self.qop)

    @property
    def strength(self) -> int:
        """Rank for choosing among challenges [RFC 8760 §2.4]; 0 when unsupported."""
        if not self.supported:
            return 0
        return _STRENGTH[self.algorithm.removesuffix("-sess")]

    def serialize(self) -> str:
        """The header value, ``Digest realm="...", nonce="...", ...``.

        Raises:
            ValueError: A value holds CR, LF or NUL, or an ``extra`` name is
                not a token (either would break the header).
        """
        parts = [f"realm={_quote(self.realm)}", f"nonce={_quote(self.nonce)}"]
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.algorithm_explicit or self.algorithm != "MD5":
            parts.append(f"algorithm={_token_or_quoted(self.algorithm)}")
        if self.qop:
            parts.append(f"qop={_quote(','.join(self.qop))}")
        if self.stale:
            parts.append("stale=true")
        if self.domain:
            parts.append(f"domain={_quote(' '.join(self.domain))}")
        if self.userhash:
            parts.append("userhash=true")
        if self.charset is not None:
            parts.append(f"charset={_token_or_quoted(self.charset)}")
        parts.extend(f"{_check_name(name)}={_quote(value)}" for name, value in self.extra.items())
        return "Digest " + ", ".join(parts)

    def __str__(self) -> str:
        return self.serialize()


# --- credentials and the Authorization header ----------------------------------------------


@dataclass(slots=True, frozen=True)
class Credentials:
    """A username and password, for one realm or for any.

    The password is left out of ``repr()`` and ``str()``.

    Attributes:
        username: The user's name (any Unicode; see :func:`authorize`).
        password: The shared secret.
        realm: The only realm these answer, or None to answer any realm.
    """

    username: str
    password: str = field(repr=False)
    realm: str | None = None

    def matches(self, realm: str) -> bool:
        """Whether these credentials may answer a challenge for ``realm``."""
        return self.realm is None or self.realm == realm


@dataclass(slots=True, kw_only=True)
class DigestAuthorization:
    """The value of an ``Authorization`` or ``Proxy-Authorization`` header.

    Parameters as in [RFC 7616 §3.4] and [RFC 3261 §22.4]. It holds the
    response digest, never a password or H(A1).

    Attributes:
        username: The user's name, decoded from ``username*`` where that was
            used; the userhash itself when ``userhash`` is true.
        realm: Echoed from the challenge.
        nonce: Echoed from the challenge.
        uri: The digest-uri: in SIP, the Request-URI [RFC 3261 §22.4].
        response: The request-digest, lowercase hex when we made it.
        algorithm: Canonical spelling where known.
        algorithm_explicit: Whether ``algorithm`` is written in the header.
        qop: ``auth``, ``auth-int`` or None (RFC 2069 form).
        nc: The nonce count, 8 hex digits, with a qop.
        cnonce: The client nonce, with a qop or a ``-sess`` algorithm.
        opaque: Echoed from the challenge.
        userhash: Whether ``username`` is H(username:realm).
        extra: Unknown parameters, kept.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    algorithm_explicit: bool = False
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    userhash: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str) -> DigestAuthorization:
        """Read the header value (the part after ``Authorization:``).

        Tolerant of what real stacks send: no space after commas, quoted
        ``nc`` and ``qop``, extra whitespace.

        Raises:
            ParseError: Malformed, not Digest, a required parameter missing,
                or both ``username`` and ``username*`` [RFC 7616 §3.4].
        """
        raws = _parse_challenges(value)
        if len(raws) != 1:
            raise ParseError(f"expected one set of credentials in {_excerpt(value)}")
        parameters = _parameters(raws[0])
        username = parameters.get("username")
        username_star = parameters.get("username*")
        if username is not None and username_star is not None:
            raise ParseError("both username and username* are present")
        if username_star is not None:
            username = _decode_ext_value(username_star)
        if username is None:
            raise ParseError("Digest 'username' is missing")
        algorithm = parameters.get("algorithm")
        qop = parameters.get("qop")
        return cls(
            username=username,
            realm=_required(parameters, "realm"),
            nonce=_required(parameters, "nonce"),
            uri=_required(parameters, "uri"),
            response=_required(parameters, "response"),
            algorithm="MD5" if algorithm is None else _canonical_or_same(algorithm),
            algorithm_explicit=algorithm is not None,
            qop=None if qop is None else qop.strip(_WHITESPACE).lower(),
            nc=parameters.get("nc"),
            cnonce=parameters.get("cnonce"),
            opaque=parameters.get("opaque"),
            userhash=_flag(parameters.get("userhash")),
            extra={k: v for k, v in parameters.items() if k not in _AUTHORIZATION_PARAMETERS},
        )

    def serialize(self) -> str:
        """The header value, parameters in the order of [RFC 3261 §22.4]'s example.

        A username that a quoted-string cannot carry (non-ASCII, controls) goes
        as ``username*`` in RFC 5987 form unless it is hashed [RFC 7616 §3.4.4].

        Raises:
            ValueError: A value other than the username holds CR, LF or NUL.
        """
        if not self.userhash and _needs_ext_value(self.username):
            parts = [f"username*={_encode_ext_value(self.username)}"]
        else:
            parts = [f"username={_quote(self.username)}"]
        parts += [
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.nonce)}",
            f"uri={_quote(self.uri)}",
        ]
        if self.algorithm_explicit or self.algorithm != "MD5":
            parts.append(f"algorithm={_token_or_quoted(self.algorithm)}")
        if self.qop is not None:
            parts.append(f"qop={_token_or_quoted(self.qop)}")
        if self.nc is not None:
            parts.append(f"nc={_token_or_quoted(self.nc)}")
        if self.cnonce is not None:
            parts.append(f"cnonce={_quote(self.cnonce)}")
        parts.append(f"response={_quote(self.response)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.userhash:
            parts.append("userhash=true")
        parts.extend(f"{_check_name(name)}={_quote(value)}" for name, value in self.extra.items())
        return "Digest " + ", ".join(parts)

    def __str__(self) -> str:
        return self.serialize()


# --- the client side -----------------------------------------------------------------------


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


# --- the server side -----------------------------------------------------------------------


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
