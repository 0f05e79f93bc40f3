"""Digest challenges and credentials as header values [RFC 7616 §3.3, §3.4].

:class:`Challenge` is a ``WWW-Authenticate`` / ``Proxy-Authenticate`` value,
:class:`DigestAuthorization` an ``Authorization`` / ``Proxy-Authorization``
value, both read with the auth-header grammar of [RFC 3261 §25.1] and
[RFC 7235 §2.1] and written back; :class:`Credentials` is who answers.
Nothing here stores a password or an H(A1).

>>> challenge = Challenge.parse('Digest realm="example.com", nonce="8d5b1c", qop="auth"')
>>> challenge.realm, challenge.qop, challenge.algorithm
('example.com', ['auth'], 'MD5')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from voip_core.errors import ParseError
from voip_core.sip.digest import _QOPS, _STRENGTH, ALGORITHMS, _canonical_or_same

__all__ = ["Challenge", "Credentials", "DigestAuthorization"]

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


def _excerpt(text: str, limit: int = 120) -> str:
    """``repr`` of a header value for an error message, cut short when long."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


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
