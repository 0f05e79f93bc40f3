"""Hypothesis properties of what the UAS reads from requests: sipfrag, the refusal policy."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from voip_core.errors import ParseError
from voip_core.sip.message import SIPRequest, parse_message
from voip_core.sip.policy import KNOWN_METHODS, refusal
from voip_core.sip.transfer import sipfrag_status

ALLOWED = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "REFER", "NOTIFY")


@given(st.binary(max_size=200))
def test_sipfrag_status_is_a_status_or_a_parse_error(body):
    try:
        code = sipfrag_status(body)
    except ParseError:
        return
    assert 100 <= code <= 699


@given(st.integers(100, 699), st.text(st.characters(codec="utf-8", exclude_characters="\r\n")))
def test_sipfrag_status_reads_every_status_line(code, reason):
    assert sipfrag_status(f"SIP/2.0 {code} {reason}\r\nVia: x\r\n".encode()) == code


TOKEN = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
    min_size=1,
    max_size=12,
)


@given(
    method=st.sampled_from(sorted(KNOWN_METHODS)) | TOKEN.map(str.upper),
    scheme=st.sampled_from(["sip", "sips", "tel", "urn", "http"]),
    require=st.lists(TOKEN, max_size=3),
    content_type=st.sampled_from(["application/sdp", "message/sipfrag", "text/plain", ""]),
    body=st.binary(max_size=20),
    accept=st.sampled_from([None, "application/sdp", "text/html", "*/*"]),
)
def test_refusal_is_none_or_an_error_status_with_its_headers(
    method, scheme, require, content_type, body, accept
):
    uri = {"sip": "sip:b@h", "sips": "sips:b@h", "tel": "tel:+1555", "urn": "urn:x:y"}.get(
        scheme, "http://h/"
    )
    lines = [
        f"{method} {uri} SIP/2.0",
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1",
        "From: <sip:a@h>;tag=1",
        "To: <sip:b@h>",
        "Call-ID: c",
        f"CSeq: 1 {method}",
    ]
    if require:
        lines.append("Require: " + ", ".join(require))
    if content_type and body:
        lines.append(f"Content-Type: {content_type}")
    if accept:
        lines.append(f"Accept: {accept}")
    lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    try:
        request = parse_message(data)
    except ParseError:
        return
    assert isinstance(request, SIPRequest)
    result = refusal(request, allowed=ALLOWED)
    if result is None:
        assert method in ALLOWED and scheme in ("sip", "sips")
        return
    status, reason, headers = result
    assert status in {405, 501, 416, 420, 415, 406} and reason
    if status in (405, 501):
        assert (status == 405) == (method in KNOWN_METHODS) and method not in ALLOWED
        assert headers[0][0] == "Allow"
    if status == 420:
        assert headers == [
            ("Unsupported", ", ".join(t for t in require if t.lower() != "norefersub"))
        ]
