"""Digest authentication: conformance vectors, real-world headers, the client loop guard,
the server side, and property tests (hypothesis) for the header grammar."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voip_core.errors import AuthenticationError, ParseError, VoIPError
from voip_core.sip.auth import (
    ALGORITHMS,
    AuthResult,
    Challenge,
    Credentials,
    DigestAuthorization,
    DigestSession,
    authorize,
    check_authorization,
    digest_ha1,
    digest_ha2,
    digest_response,
    digest_userhash,
    make_challenge,
    select_challenge,
    verify,
)

VECTOR_IDS = [
    "rfc2617-3.5-md5-auth",
    "rfc7616-3.9.1-md5",
    "rfc7616-3.9.1-sha256",
    "rfc7616-3.9.2-sha512-256-userhash",
    "sip-cisco-register-md5-noqop",
    "sip-register-md5-noqop-2",
]

SECRET = "S3cr3t-Pa55w0rd!"  # searched for in every repr, str and error text


def load_vectors(folder: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((folder / "digest.json").read_text(encoding="utf-8"))
    return {vector["id"]: vector for vector in data["vectors"]}


def expected_of(vector: dict[str, Any]) -> dict[str, str]:
    """The values a conforming implementation must give (erratum 4897 for SHA-512-256)."""
    result: dict[str, str] = vector.get("expected_fips_sha512_256") or vector["expected"]
    return result


def challenge_of(vector: dict[str, Any]) -> Challenge:
    if "challenge" in vector:
        return Challenge.parse(vector["challenge"])
    return Challenge(
        realm=vector["realm"],
        nonce=vector["nonce"],
        opaque=vector.get("opaque"),
        algorithm=vector["algorithm"],
        algorithm_explicit=True,
        qop=[vector["qop"]] if vector["qop"] else [],
        userhash=vector.get("userhash", False),
        charset=vector.get("charset"),
    )


def passwords(vector: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(vector["username"], vector["realm"]): vector["password"]}


# --- conformance vectors ---------------------------------------------------------------------


def test_every_vector_is_exercised(vectors: Path) -> None:
    assert sorted(load_vectors(vectors)) == sorted(VECTOR_IDS)


@pytest.mark.parametrize("vector_id", VECTOR_IDS)
def test_vector_hashes(vectors: Path, vector_id: str) -> None:
    vector = load_vectors(vectors)[vector_id]
    expected = expected_of(vector)
    algorithm = vector["algorithm"]
    ha1 = digest_ha1(algorithm, vector["username"], vector["realm"], vector["password"])
    ha2 = digest_ha2(algorithm, vector["method"], vector["uri"], qop=vector["qop"])
    assert ha1 == expected["ha1"]
    assert ha2 == expected["ha2"]
    if "userhash" in expected:
        assert (
            digest_userhash(algorithm, vector["username"], vector["realm"]) == expected["userhash"]
        )
    response = digest_response(
        algorithm,
        ha1,
        ha2,
        nonce=vector["nonce"],
        nc=vector.get("nc") if vector["qop"] else None,
        cnonce=vector.get("cnonce") if vector["qop"] else None,
        qop=vector["qop"],
    )
    assert response == expected["response"]


@pytest.mark.parametrize("vector_id", VECTOR_IDS)
def test_vector_through_authorize_and_verify(vectors: Path, vector_id: str) -> None:
    vector = load_vectors(vectors)[vector_id]
    expected = expected_of(vector)
    credentials = Credentials(vector["username"], vector["password"])
    value = authorize(
        challenge_of(vector),
        credentials,
        method=vector["method"],
        uri=vector["uri"],
        nc=int(vector.get("nc", "1"), 16),
        cnonce=vector.get("cnonce"),
    )
    sent = DigestAuthorization.parse(value)
    assert sent.response == expected["response"]
    assert sent.qop == vector["qop"]
    assert sent.realm == vector["realm"] and sent.nonce == vector["nonce"]
    assert sent.opaque == vector.get("opaque")
    if vector["qop"]:
        assert (sent.nc, sent.cnonce) == (vector["nc"], vector["cnonce"])
    else:  # RFC 2069 form
        assert (sent.nc, sent.cnonce) == (None, None)
        assert "qop=" not in value and "nc=" not in value and "cnonce=" not in value
    if vector.get("userhash"):
        assert sent.userhash and sent.username == expected["userhash"]
        assert "username*" not in value and vector["username"] not in value
    else:
        assert sent.username == vector["username"]
    if vector_id == "rfc2617-3.5-md5-auth":  # byte for byte as RFC 2617 §3.5 prints it
        assert value == vector["authorization"]

    def lookup_userhash(userhash: str, realm: str) -> str | None:
        known = vector["username"]
        return known if digest_userhash(vector["algorithm"], known, realm) == userhash else None

    def check(header: str, password: str, *, nonce_ok: bool = True) -> AuthResult:
        return check_authorization(
            header,
            password_lookup=lambda user, realm: {
                (vector["username"], vector["realm"]): password
            }.get((user, realm)),
            method=vector["method"],
            uri=vector["uri"],
            nonce_is_valid=lambda nonce: nonce_ok and nonce == vector["nonce"],
            userhash_lookup=lookup_userhash,
        )

    assert verify(
        value,
        password_lookup=lambda user, realm: passwords(vector).get((user, realm)),
        method=vector["method"],
        uri=vector["uri"],
        nonce_is_valid=lambda nonce: nonce == vector["nonce"],
        userhash_lookup=lookup_userhash,
    )
    assert check(value, vector["password"]) is AuthResult.OK
    assert check(value, vector["password"] + "x") is AuthResult.REJECTED
    assert check(value, vector["password"], nonce_ok=False) is AuthResult.STALE
    if "authorization" in vector:  # the header as the RFC / the Cisco phone sent it
        original = vector["authorization"].split(":", 1)[1] if vector_id.startswith("sip") else (
            vector["authorization"]
        )  # fmt: skip
        assert check(original, vector["password"]) is AuthResult.OK
        assert check(original, "wrong") is AuthResult.REJECTED


def test_sha512_256_is_fips_not_truncated_sha512(vectors: Path) -> None:
    """RFC 7616 §3.9.2 printed SHA-512 cut to 256 bits; erratum 4897 has FIPS SHA-512/256."""
    vector = load_vectors(vectors)["rfc7616-3.9.2-sha512-256-userhash"]
    printed = vector["published_in_rfc"]
    ours = digest_userhash("SHA-512-256", vector["username"], vector["realm"])
    assert ours == vector["expected_fips_sha512_256"]["userhash"] != printed["userhash"]
    truncated = hashlib.sha512(f"{vector['username']}:{vector['realm']}".encode()).hexdigest()[:64]
    assert truncated == printed["userhash"]  # which is how the RFC got it wrong


def test_non_ascii_username_goes_as_username_star(vectors: Path) -> None:
    """RFC 7616 §3.4.4: without userhash, a non-ASCII name is sent in RFC 5987 form."""
    vector = load_vectors(vectors)["rfc7616-3.9.2-sha512-256-userhash"]
    challenge = challenge_of(vector)
    challenge.userhash = False
    value = authorize(
        challenge,
        Credentials(vector["username"], vector["password"]),
        method="GET",
        uri="/doe.json",
        cnonce=vector["cnonce"],
    )
    assert f"username*={vector['username_star']}," in value
    assert "username=" not in value
    parsed = DigestAuthorization.parse(value)
    assert parsed.username == vector["username"]
    assert parsed.response == expected_of(vector)["response"]  # userhash does not enter A1
    assert verify(
        value,
        password_lookup=lambda user, realm: passwords(vector).get((user, realm)),
        method="GET",
        uri="/doe.json",
        nonce_is_valid=lambda nonce: True,
    )


# --- real-world headers ------------------------------------------------------------------------

_HEADER = re.compile(r"^([A-Za-z-]+)[ \t]*:[ \t]*(.*?)\r?$", re.MULTILINE)

# file -> (header, realm, nonce, opaque, qop, algorithm named, domain)
REALWORLD_CHALLENGES: dict[str, tuple[str, str, str, str | None, list[str], bool, list[str]]] = {
    "cirpack_407_proxy_authenticate.sip": (
        "Proxy-Authenticate", "sip.cybercity.dk", "1701b4767d49c41117c7b73a255a353",
        "1701a1351f70795", [], True, [],
    ),
    "cybercity_401_www_authenticate.sip": (
        "WWW-Authenticate", "sip.cybercity.dk", "1701af566be182070084c6f740706bb",
        "1701a1351f70795", [], True, [],
    ),
    "flexisip_401_www_authenticate.sip": (
        "WWW-Authenticate", "sip.linphone.org", "WR5i2QAAAAA9uY8IAADQ03f3p94AAAAA",
        "+GNywA==", ["auth"], True, [],
    ),
    "huawei_softx3000_401.sip": (
        "WWW-Authenticate", "Huawei", "18c8db501108b585bab3243e2a09509d",
        None, [], True, ["sip:Huawei.com"],
    ),
    "opensips_407_websocket.sip": (
        "Proxy-Authenticate", "dev-mike.tncp.textnow.com",
        "5be9d57b0000000093b1473be159269011f99ccf76e7a1fa", None, [], False, [],
    ),
    "uas_401_www_authenticate.sip": (
        "WWW-Authenticate", "user", "113e25a8", None, [], True, [],
    ),
}  # fmt: skip


def headers_in(path: Path, names: set[str]) -> list[tuple[str, str]]:
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    return [(m[1], m[2]) for m in _HEADER.finditer(text) if m[1].lower() in names]


def test_realworld_challenges_parse(vectors: Path) -> None:
    found = {}
    for path in sorted((vectors / "realworld").glob("*.sip")):
        for name, value in headers_in(path, {"www-authenticate", "proxy-authenticate"}):
            found[path.name] = (name, Challenge.parse(value))
    assert set(found) == set(REALWORLD_CHALLENGES)
    for file_name, (
        header,
        realm,
        nonce,
        opaque,
        qop,
        named,
        domain,
    ) in REALWORLD_CHALLENGES.items():
        name, challenge = found[file_name]
        assert name == header
        assert (challenge.realm, challenge.nonce, challenge.opaque) == (realm, nonce, opaque)
        assert challenge.qop == qop and challenge.domain == domain
        assert challenge.algorithm == "MD5" and challenge.algorithm_explicit is named
        assert challenge.stale is False and challenge.supported
        status = 407 if header == "Proxy-Authenticate" else 401
        answer_name, _ = DigestSession().response_to(
            status, [challenge.serialize()], Credentials("100", SECRET), "REGISTER", "sip:x"
        )
        assert answer_name == ("Proxy-Authorization" if status == 407 else "Authorization")
        assert Challenge.parse(challenge.serialize()) == challenge


def test_realworld_credentials_parse(vectors: Path) -> None:
    seen = {}
    for path in sorted((vectors / "realworld").glob("*.sip")):
        for _, value in headers_in(path, {"authorization", "proxy-authorization"}):
            seen[path.name] = DigestAuthorization.parse(value)
    linphone = seen["linphone_register_authorization_tls.sip"]
    assert (linphone.username, linphone.uri, linphone.qop, linphone.nc) == (
        "gbi", "sip:sip.linphone.org", "auth", "00000001",
    )  # fmt: skip
    assert linphone.cnonce == "faaac8d5" and linphone.opaque == "+GNywA=="
    microsip = seen["microsip_register_authorization.sip"]
    assert (microsip.username, microsip.uri, microsip.qop) == (
        "1001", "sip:172.168.0.228;transport=tcp", None,
    )  # fmt: skip
    nero = seen["nero_sipps_invite_proxy_authorization.sip"]
    assert nero.nc == "00000001"  # sent quoted by Nero SIPPS
    assert nero.response == "8258d3744c08b75f7af46cd0f1762510"


# --- parsing details -----------------------------------------------------------------------------


def test_parse_tolerates_whitespace_escapes_commas_and_case() -> None:
    value = (
        '  dIgEsT   realm = "a \\"quoted\\" realm, with comma\\\\" ,nonce=abc/def==,'
        ' ALGORITHM=sha-256-SESS ,  qop=" Auth , auth-int,token",stale=TRUE,'
        ' userhash=true, charset=UTF-8, domain="sip:a sip:b", X-Vendor="v, 1",'
    )
    challenge = Challenge.parse(value)
    assert challenge.realm == 'a "quoted" realm, with comma\\'
    assert challenge.nonce == "abc/def=="
    assert challenge.algorithm == "SHA-256-sess" and challenge.algorithm_explicit
    assert challenge.qop == ["auth", "auth-int", "token"]
    assert challenge.stale and challenge.userhash and challenge.charset == "UTF-8"
    assert challenge.domain == ["sip:a", "sip:b"]
    assert challenge.extra == {"x-vendor": "v, 1"}
    assert Challenge.parse(challenge.serialize()) == challenge


def test_parse_all_and_other_schemes() -> None:
    value = (
        'Basic realm="basic", Digest realm="one", nonce="1", algorithm=MD5, '
        'Negotiate abc+/def==, Digest realm="two",nonce="2",algorithm=SHA-256'
    )
    challenges = Challenge.parse_all(value)
    assert [(c.realm, c.algorithm) for c in challenges] == [("one", "MD5"), ("two", "SHA-256")]
    assert Challenge.parse_all("Basic realm=x, Bearer") == []
    assert Challenge.parse('Basic realm="b", Digest realm="d", nonce="n"').realm == "d"
    with pytest.raises(ParseError, match="parse_all"):
        Challenge.parse(value)
    with pytest.raises(ParseError, match="not a Digest challenge"):
        Challenge.parse('Basic realm="x"')


def test_unknown_algorithm_is_kept_but_not_supported() -> None:
    challenge = Challenge.parse('Digest realm="ims", nonce="n", algorithm=AKAv1-MD5, qop="auth"')
    assert challenge.algorithm == "AKAv1-MD5" and not challenge.supported
    assert challenge.strength == 0
    only_auth_conf = Challenge.parse('Digest realm="r", nonce="n", qop="auth-conf"')
    assert not only_auth_conf.supported
    with pytest.raises(AuthenticationError, match="no supported Digest algorithm"):
        authorize(challenge, Credentials("u", SECRET), method="REGISTER", uri="sip:r")


@pytest.mark.parametrize(
    "value",
    [
        "",
        " , ,",
        "Digest",
        'Digest realm="r"',  # no nonce
        'Digest nonce="n"',  # no realm
        'Digest realm="r", nonce="n", realm="s"',  # repeated
        'Digest realm="r',  # unterminated
        'Digest realm="r" nonce="n"',  # missing comma
        'Digest realm="r", nonce=',  # no value
        'Digest realm="r", nonce="n", ="x"',
        'Digest realm="a\rb", nonce="n"',
        "Digest abc==",  # token68
        '"Digest" realm="r", nonce="n"',
        'Digest"x", realm="r", nonce="n"',
        "realm=x, Digest realm=r, nonce=n",
    ],
)
def test_malformed_challenges_raise_parse_error(value: str) -> None:
    with pytest.raises(ParseError):
        Challenge.parse(value)
    assert issubclass(ParseError, VoIPError)


@pytest.mark.parametrize(
    "value",
    [
        'Digest username="u", username*=UTF-8\'\'u, realm="r", nonce="n", uri="x", response="0"',
        'Digest realm="r", nonce="n", uri="x", response="0"',
        'Digest username="u", realm="r", nonce="n", response="0"',
        'Digest username*=UTF-8\'\'%ZZ, realm="r", nonce="n", uri="x", response="0"',
        'Digest username*=KOI8-R\'\'x, realm="r", nonce="n", uri="x", response="0"',
        "Basic dXNlcjpwYXNz",
    ],
)
def test_malformed_credentials(value: str) -> None:
    with pytest.raises(ParseError):
        DigestAuthorization.parse(value)
    assert not verify(
        value,
        password_lookup=lambda user, realm: SECRET,
        method="REGISTER",
        uri="x",
        nonce_is_valid=lambda nonce: True,
    )


# --- the client side ---------------------------------------------------------------------------


def answer(challenge: str, **kwargs: Any) -> DigestAuthorization:
    arguments: dict[str, Any] = {"method": "INVITE", "uri": "sip:bob@example.com"} | kwargs
    return DigestAuthorization.parse(
        authorize(Challenge.parse(challenge), Credentials("alice", SECRET), **arguments)
    )


def test_qop_choice_and_rfc2069_form() -> None:
    both = answer('Digest realm="r", nonce="n", qop="auth-int,auth"')
    assert both.qop == "auth" and both.nc == "00000001"
    assert both.cnonce is not None and re.fullmatch(r"[0-9a-f]{32}", both.cnonce)
    body = b"v=0\r\n"
    only_int = answer('Digest realm="r", nonce="n", qop="auth-int"', body=body)
    assert only_int.qop == "auth-int"
    ha1 = digest_ha1("MD5", "alice", "r", SECRET)
    ha2 = hashlib.md5(
        f"INVITE:sip:bob@example.com:{hashlib.md5(body).hexdigest()}".encode()
    ).hexdigest()
    assert only_int.response == digest_response(
        "MD5", ha1, ha2, nonce="n", nc="00000001", cnonce=only_int.cnonce, qop="auth-int"
    )
    none = answer('Digest realm="r", nonce="n"')
    assert (none.qop, none.nc, none.cnonce) == (None, None, None)


def test_nonce_count_cnonce_algorithm_and_opaque() -> None:
    first = answer('Digest realm="r", nonce="n", qop=auth', nc=255, cnonce="c")
    assert (first.nc, first.cnonce) == ("000000ff", "c")
    assert answer('Digest realm="r", nonce="n", qop=auth').cnonce != first.cnonce
    named = authorize(
        Challenge.parse('Digest realm="r", nonce="n", algorithm=md5, opaque="o p"'),
        Credentials("alice", SECRET),
        method="BYE",
        uri="sip:b",
    )
    assert "algorithm=MD5" in named and 'opaque="o p"' in named
    unnamed = authorize(
        Challenge.parse('Digest realm="r", nonce="n"'),
        Credentials("alice", SECRET),
        method="BYE",
        uri="sip:b",
    )
    assert "algorithm" not in unnamed and "opaque" not in unnamed
    for bad in (0, 2**32):
        with pytest.raises(ValueError):
            answer('Digest realm="r", nonce="n", qop=auth', nc=bad)


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (1, 2, 0)])
def test_strongest_challenge_wins(order: tuple[int, int, int]) -> None:
    offered = [
        Challenge(realm="r", nonce="md5", algorithm="MD5", qop=["auth"]),
        Challenge(realm="r", nonce="sha256", algorithm="SHA-256", qop=["auth"]),
        Challenge(realm="r", nonce="sha512", algorithm="SHA-512-256", qop=["auth"]),
    ]
    ordered = [offered[i] for i in order]
    assert select_challenge(ordered).nonce == "sha512"
    value = authorize(ordered, Credentials("u", SECRET), method="REGISTER", uri="sip:r")
    assert DigestAuthorization.parse(value).algorithm == "SHA-512-256"
    without_best = [c for c in ordered if c.nonce != "sha512"]
    assert select_challenge(without_best).nonce == "sha256"
    unsupported = Challenge(realm="r", nonce="aka", algorithm="AKAv1-MD5", qop=["auth"])
    assert select_challenge([unsupported, offered[0]]).nonce == "md5"


def test_realm_mismatch_names_the_realm() -> None:
    credentials = Credentials("alice", SECRET, realm="home.example")
    challenge = Challenge(realm="elsewhere.example", nonce="n")
    with pytest.raises(AuthenticationError, match=r"elsewhere\.example") as caught:
        authorize(challenge, credentials, method="REGISTER", uri="sip:x")
    assert caught.value.realm == "elsewhere.example"
    with pytest.raises(AuthenticationError, match=r"elsewhere\.example"):
        DigestSession().response_to(401, [challenge.serialize()], credentials, "REGISTER", "sip:x")
    two = [challenge, Challenge(realm="home.example", nonce="m")]
    assert select_challenge(two, credentials).realm == "home.example"
    with pytest.raises(AuthenticationError, match="no Digest challenge"):
        select_challenge([])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("qop", ["auth", "auth-int", None])
def test_every_algorithm_and_qop_verifies(algorithm: str, qop: str | None) -> None:
    challenge = Challenge.parse(make_challenge("r", algorithm=algorithm, qop=qop))
    body = b"hello"
    value = authorize(challenge, Credentials("ü", SECRET), method="MESSAGE", uri="sip:r", body=body)
    parsed = DigestAuthorization.parse(value)
    assert parsed.algorithm == algorithm and parsed.qop == qop
    assert (parsed.cnonce is not None) == (qop is not None or algorithm.endswith("-sess"))

    def check(**changes: Any) -> bool:
        arguments: dict[str, Any] = {
            "password_lookup": lambda user, realm: SECRET if (user, realm) == ("ü", "r") else None,
            "method": "MESSAGE",
            "uri": "sip:r",
            "nonce_is_valid": lambda nonce: nonce == challenge.nonce,
            "body": body,
        } | changes
        return verify(value, **arguments)

    assert check()
    assert not check(method="INVITE")
    assert not check(uri="sip:other")
    assert check(body=b"changed") is (qop != "auth-int")
    assert not check(password_lookup=lambda user, realm: SECRET + "!")
    assert not check(password_lookup=lambda user, realm: None)
    assert not check(nonce_is_valid=lambda nonce: False)


# --- DigestSession: nonce counts and the loop guard ---------------------------------------------

CREDENTIALS = Credentials("alice", SECRET, realm="example.com")


def nc_of(value: str) -> str | None:
    return DigestAuthorization.parse(value).nc


def test_401_and_407_header_names() -> None:
    session = DigestSession()
    challenge = make_challenge("example.com")
    assert session.response_to(401, [challenge], CREDENTIALS, "REGISTER", "sip:e")[0] == (
        "Authorization"
    )
    proxy = DigestSession()
    assert proxy.response_to(407, challenge, CREDENTIALS, "INVITE", "sip:b@e")[0] == (
        "Proxy-Authorization"
    )
    with pytest.raises(ValueError):
        DigestSession().response_to(403, [challenge], CREDENTIALS, "INVITE", "sip:b@e")


def test_same_nonce_twice_is_wrong_credentials() -> None:
    session = DigestSession()
    challenge = make_challenge("example.com", nonce="n1")
    session.response_to(401, [challenge], CREDENTIALS, "REGISTER", "sip:e")
    with pytest.raises(
        AuthenticationError, match=r"wrong credentials for realm 'example\.com'"
    ) as e:
        session.response_to(401, [challenge], CREDENTIALS, "REGISTER", "sip:e")
    assert SECRET not in str(e.value) and SECRET not in repr(e.value)


def test_stale_is_answered_once_with_a_fresh_count() -> None:
    session = DigestSession()
    session.response_to(401, [make_challenge("example.com", nonce="n1")], CREDENTIALS, "R", "u")
    reused = session.preemptive_authorization(CREDENTIALS, method="R", uri="u")
    assert reused is not None and nc_of(reused[1]) == "00000002"
    stale = make_challenge("example.com", nonce="n2", stale=True)
    _, value = session.response_to(401, [stale], CREDENTIALS, "R", "u")
    assert DigestAuthorization.parse(value).nonce == "n2" and nc_of(value) == "00000001"
    assert session.nonce_count("example.com", "n2") == 1
    assert session.nonce_count("example.com", "n1") == 0  # forgotten
    again = make_challenge("example.com", nonce="n3", stale=True)
    with pytest.raises(AuthenticationError, match="stale"):
        session.response_to(401, [again], CREDENTIALS, "R", "u")


def test_new_nonce_without_stale_after_a_fresh_answer_is_refusal() -> None:
    session = DigestSession()
    session.response_to(401, [make_challenge("example.com", nonce="n1")], CREDENTIALS, "R", "u")
    with pytest.raises(AuthenticationError, match="wrong credentials"):
        session.response_to(401, [make_challenge("example.com", nonce="n2")], CREDENTIALS, "R", "u")


def test_reused_nonce_counts_up_and_a_new_nonce_after_reuse_is_answered() -> None:
    session = DigestSession()
    assert session.preemptive_authorization(CREDENTIALS, method="R", uri="u") is None
    _, first = session.response_to(
        407, [make_challenge("example.com", nonce="n1")], CREDENTIALS, "R", "u"
    )
    assert nc_of(first) == "00000001"
    counts = []
    for _ in range(3):
        header = session.preemptive_authorization(CREDENTIALS, method="R", uri="u")
        assert header is not None and header[0] == "Proxy-Authorization"
        counts.append(nc_of(header[1]))
    assert counts == ["00000002", "00000003", "00000004"]
    # the server forgot n1 and challenges afresh without stale: answered once ...
    _, fresh = session.response_to(
        407, [make_challenge("example.com", nonce="n2")], CREDENTIALS, "R", "u"
    )
    assert nc_of(fresh) == "00000001"
    # ... but a second refusal in the same request is final
    with pytest.raises(AuthenticationError):
        session.response_to(407, [make_challenge("example.com", nonce="n3")], CREDENTIALS, "R", "u")
    # a reused nonce refused with the same nonce is a wrong password
    session.preemptive_authorization(CREDENTIALS, method="R", uri="u")
    with pytest.raises(AuthenticationError, match="wrong credentials"):
        session.response_to(407, [make_challenge("example.com", nonce="n2")], CREDENTIALS, "R", "u")
    other_realm = Credentials("bob", SECRET, realm="other")
    assert session.preemptive_authorization(other_realm, method="R", uri="u") is None
    session.reset()
    assert session.preemptive_authorization(CREDENTIALS, method="R", uri="u") is None


def test_malformed_challenge_headers_are_skipped() -> None:
    session = DigestSession()
    good = make_challenge("example.com", algorithm="SHA-256")
    _, value = session.response_to(
        401, ['Digest realm="broken', good], CREDENTIALS, "REGISTER", "sip:e"
    )
    assert DigestAuthorization.parse(value).algorithm == "SHA-256"
    with pytest.raises(AuthenticationError, match="no usable Digest challenge"):
        DigestSession().response_to(401, ["Digest", "Basic x=y"], CREDENTIALS, "REGISTER", "u")


class Registrar:
    """A registrar-like server built from make_challenge and check_authorization."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.nonces: set[str] = set()
        self.requests = 0

    def challenge(self, *, stale: bool = False) -> str:
        value = make_challenge("example.com", algorithm="SHA-256", stale=stale, opaque="op")
        self.nonces.add(Challenge.parse(value).nonce)
        return value

    def handle(self, authorization: str | None) -> tuple[int, str | None]:
        self.requests += 1
        if authorization is None:
            return 401, self.challenge()
        result = check_authorization(
            authorization,
            password_lookup=lambda user, realm: self.password if user == "alice" else None,
            method="REGISTER",
            uri="sip:example.com",
            nonce_is_valid=self.nonces.__contains__,
        )
        if result is AuthResult.OK:
            return 200, None
        return 401, self.challenge(stale=result is AuthResult.STALE)


def register(session: DigestSession, registrar: Registrar, credentials: Credentials) -> int:
    header = session.preemptive_authorization(credentials, method="REGISTER", uri="sip:example.com")
    status, challenge = registrar.handle(None if header is None else header[1])
    while status == 401:
        assert challenge is not None
        _, value = session.response_to(401, [challenge], credentials, "REGISTER", "sip:example.com")
        status, challenge = registrar.handle(value)
    return status


def test_against_a_registrar_no_loop_on_wrong_password() -> None:
    registrar = Registrar(password=SECRET)
    session = DigestSession()
    assert register(session, registrar, CREDENTIALS) == 200
    assert registrar.requests == 2
    assert register(session, registrar, CREDENTIALS) == 200  # reused nonce, nc=2
    assert registrar.requests == 3
    registrar.nonces.clear()  # nonces expire: stale=true, answered without asking the user
    assert register(session, registrar, CREDENTIALS) == 200
    assert registrar.requests == 5
    wrong = Credentials("alice", "not the password", realm="example.com")
    with pytest.raises(AuthenticationError, match=r"wrong credentials for realm 'example\.com'"):
        register(DigestSession(), registrar, wrong)
    assert registrar.requests == 7  # one challenge, one answer, then stop


# --- secrets never shown ------------------------------------------------------------------------


def test_repr_and_str_never_show_credentials() -> None:
    credentials = Credentials("alice", SECRET, realm="example.com")
    session = DigestSession()
    challenge_value = make_challenge("example.com", qop="auth", nonce="n")
    _, value = session.response_to(401, [challenge_value], credentials, "REGISTER", "sip:e")
    ha1 = digest_ha1("MD5", "alice", "example.com", SECRET)
    shown = [
        repr(credentials),
        str(credentials),
        repr(session),
        str(session),
        value,
        repr(DigestAuthorization.parse(value)),
        repr(Challenge.parse(challenge_value)),
    ]
    for failing in (
        lambda: session.response_to(401, [challenge_value], credentials, "REGISTER", "sip:e"),
        lambda: authorize(Challenge(realm="x", nonce="n"), credentials, method="R", uri="u"),
    ):
        with pytest.raises(AuthenticationError) as caught:
            failing()
        shown += [str(caught.value), repr(caught.value)]
    for text in shown:
        assert SECRET not in text and ha1 not in text
    assert "alice" in repr(credentials)


# --- property tests -----------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    ["Digest", "digest", "Basic", " ", "\t", ",", "=", '"', "\\", "realm", "nonce", "qop",
     "algorithm", "stale", "userhash", "username*", "auth", "MD5", "SHA-256", "x", "==", "'",
     "%", "\r\n", "é", "\x00"]
)  # fmt: skip
_MESSY_TEXT = st.one_of(st.text(max_size=80), st.lists(_FRAGMENTS, max_size=30).map("".join))


@given(_MESSY_TEXT)
def test_parsers_raise_only_parse_error(value: str) -> None:
    for parse in (Challenge.parse, Challenge.parse_all, DigestAuthorization.parse):
        with contextlib.suppress(ParseError):
            parse(value)
    result = check_authorization(
        value,
        password_lookup=lambda user, realm: "p",
        method="REGISTER",
        uri="sip:x",
        nonce_is_valid=lambda nonce: True,
    )
    assert result is AuthResult.REJECTED


_QUOTABLE = st.text(st.characters(exclude_characters="\r\n\x00", codec="utf-8"))
_VISIBLE_WORDS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
                         max_size=10)  # fmt: skip
_TOKENS = st.from_regex(r"[a-z0-9][a-z0-9\-.!%*_+`'~]{0,10}", fullmatch=True)


@st.composite
def challenges(draw: st.DrawFn) -> Challenge:
    algorithm = draw(st.sampled_from(ALGORITHMS))
    extra_names = _TOKENS.filter(lambda name: name not in {
        "realm", "nonce", "opaque", "algorithm", "qop", "stale", "domain", "userhash", "charset"
    })  # fmt: skip
    return Challenge(
        realm=draw(_QUOTABLE),
        nonce=draw(_QUOTABLE),
        algorithm=algorithm,
        algorithm_explicit=draw(st.booleans()) or algorithm != "MD5",
        qop=draw(st.lists(_TOKENS, max_size=3)),
        opaque=draw(st.none() | _QUOTABLE),
        stale=draw(st.booleans()),
        domain=draw(st.lists(_VISIBLE_WORDS, max_size=3)),
        userhash=draw(st.booleans()),
        charset=draw(st.none() | st.just("UTF-8")),
        extra=draw(st.dictionaries(extra_names, _QUOTABLE, max_size=3)),
    )


@given(challenges())
def test_challenge_round_trip(challenge: Challenge) -> None:
    assert Challenge.parse(challenge.serialize()) == challenge
    assert Challenge.parse_all(f"{challenge}, {challenge}") == [challenge, challenge]


@given(
    realm=_QUOTABLE,
    algorithm=st.sampled_from(ALGORITHMS),
    qop=st.sampled_from(["auth", "auth-int", "auth,auth-int", None]),
    stale=st.booleans(),
    opaque=st.none() | _QUOTABLE,
)
def test_make_challenge_round_trip(
    realm: str, algorithm: str, qop: str | None, stale: bool, opaque: str | None
) -> None:
    challenge = Challenge.parse(make_challenge(realm, algorithm=algorithm, qop=qop, stale=stale,
                                               opaque=opaque))  # fmt: skip
    assert (challenge.realm, challenge.algorithm, challenge.stale, challenge.opaque) == (
        realm, algorithm, stale, opaque,
    )  # fmt: skip
    assert challenge.qop == ([] if qop is None else qop.split(","))
    assert re.fullmatch(r"[0-9a-f]{32}", challenge.nonce)
    assert challenge.supported


@given(
    username=st.text(st.characters(codec="utf-8"), max_size=20),
    password=st.text(st.characters(codec="utf-8"), max_size=20),
    challenge=challenges(),
    body=st.binary(max_size=20),
)
def test_authorize_then_verify(
    username: str, password: str, challenge: Challenge, body: bytes
) -> None:
    if not challenge.supported:
        challenge.qop = ["auth"]
    value = authorize(challenge, Credentials(username, password), method="INVITE", uri="sip:b",
                      body=body)  # fmt: skip
    parsed = DigestAuthorization.parse(value)
    assert parsed.username == (
        digest_userhash(challenge.algorithm, username, challenge.realm)
        if challenge.userhash
        else username
    )
    assert "\r" not in value and "\n" not in value

    def lookup(user: str, realm: str) -> str | None:
        return password if (user, realm) == (username, challenge.realm) else None

    assert verify(
        value,
        password_lookup=lookup,
        method="INVITE",
        uri="sip:b",
        nonce_is_valid=lambda nonce: nonce == challenge.nonce,
        body=body,
        userhash_lookup=lambda userhash, realm: username,
    )
    assert DigestAuthorization.parse(parsed.serialize()) == parsed


def test_long_header_parses_in_linear_time() -> None:
    """A hostile 600 kB header (50 000 parameters) must not take quadratic time."""
    value = 'Digest realm="r", nonce="n", ' + ", ".join(f"p{i}=v" for i in range(50_000))
    started = time.perf_counter()
    assert len(Challenge.parse(value).extra) == 50_000
    assert time.perf_counter() - started < 5.0
    with pytest.raises(ParseError) as caught:
        Challenge.parse(value + ', realm="again"')
    assert len(str(caught.value)) < 400  # the message quotes an excerpt, not the whole value
