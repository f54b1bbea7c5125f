"""SIP fields users search by, from messages written the many ways RFC 3261 allows."""
from __future__ import annotations

import pytest

from hepserver.sip.parser import parse_sip, profile_of


def msg(*lines: str, body: str = "") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


INVITE = msg("INVITE sip:bob@biloxi.example.com;user=phone SIP/2.0",
             "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport",
             "Via: SIP/2.0/UDP second.example.com;branch=z9hG4bKsecond",
             "To: Bob <sip:bob@biloxi.example.com>",
             'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774',
             "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
             "CSeq: 314159 INVITE",
             "Contact: <sip:alice@pc33.atlanta.example.com>",
             "User-Agent: Softphone 1.0",
             "Content-Type: application/sdp",
             "Content-Length: 4", body="v=0\n")


def test_request_fields():
    info = parse_sip(INVITE)
    assert info.is_request and info.method == "INVITE" and info.status_code is None
    assert (info.ruri_user, info.ruri_domain) == ("bob", "biloxi.example.com")
    assert info.ruri == "sip:bob@biloxi.example.com;user=phone"
    assert info.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert (info.cseq_num, info.cseq_method) == (314159, "INVITE")
    assert (info.from_user, info.from_domain, info.from_tag) == \
        ("alice", "atlanta.example.com", "1928301774")
    assert (info.to_user, info.to_domain, info.to_tag) == ("bob", "biloxi.example.com", None)
    assert (info.contact_user, info.contact_domain) == ("alice", "pc33.atlanta.example.com")
    assert info.user_agent == "Softphone 1.0" and info.content_type == "application/sdp"
    assert info.via_branch == "z9hG4bK776asdhds"  # the top Via only
    assert info.profile == "call"


def test_response_compact_forms_and_folding():
    data = msg("SIP/2.0 486 Busy Here",
               "v: SIP/2.0/TCP [2001:db8::9]:5060;branch=z9hG4bKv6",
               "f: sips:carol@[2001:db8::1]:5061;tag=f1",
               "t: <tel:+15551234;phone-context=example.com>;tag=t2",
               "i: folded@example",
               "cseq: 7",
               "  BYE",
               "m: <sip:192.0.2.7:5070>",
               "SERVER: PBX 2",
               "c: text/plain")
    info = parse_sip(data)
    assert not info.is_request and info.status_code == 486 and info.reason == "Busy Here"
    assert info.call_id == "folded@example" and (info.cseq_num, info.cseq_method) == (7, "BYE")
    assert (info.from_user, info.from_domain, info.from_tag) == ("carol", "[2001:db8::1]", "f1")
    assert (info.to_user, info.to_domain, info.to_tag) == ("+15551234", None, "t2")
    assert (info.contact_user, info.contact_domain) == (None, "192.0.2.7")
    assert info.user_agent == "PBX 2" and info.content_type == "text/plain"
    assert info.via_branch == "z9hG4bKv6" and info.profile == "call"


def test_register_expires_auth_and_correlation():
    data = msg("REGISTER sip:registrar.example.com SIP/2.0",
               "Call-ID: reg-1", "CSeq: 2 REGISTER",
               "From: <sip:dave@example.com>;tag=x", "To: <sip:dave@example.com>",
               "Contact: <sip:dave@10.1.1.1:5062>;expires=600, <sip:dave@10.1.1.2>",
               'Authorization: Digest username="dave", realm="example.com", nonce="n"',
               'P-Asserted-Identity: "Dave" <sip:+4930123@example.com>',
               "X-CID: leg-a-123")
    info = parse_sip(data)
    assert info.profile == "registration" and info.expires == 600
    assert info.auth_user == "dave" and info.pid_user == "+4930123" and info.x_cid == "leg-a-123"
    explicit = parse_sip(data.replace(b"X-CID: leg-a-123", b"Expires: 3600"))
    assert explicit.expires == 3600 and explicit.x_cid is None


def test_display_names_with_brackets_and_quotes():
    data = msg("OPTIONS sip:x@y SIP/2.0", "Call-ID: q", "CSeq: 1 OPTIONS",
               r'From: "A <tricky> \"one\"; tag=no" <sip:real@host.example>;tag=yes')
    info = parse_sip(data)
    assert (info.from_user, info.from_domain, info.from_tag) == ("real", "host.example", "yes")
    assert info.profile == "default"


@pytest.mark.parametrize("payload", [
    b"", b"hello world", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    msg("INVITE sip:x@y SIP/2.0", "CSeq: 1 INVITE"),  # no Call-ID
    msg("INVITE sip:x@y SIP/2.0", "Call-ID: a"),  # no CSeq
    msg("INVITE sip:x@y SIP/2.0", "Call-ID: a", "CSeq: 1 IN"),  # CSeq method too short
    msg("SIP/2.0 2000 OK", "Call-ID: a", "CSeq: 1 INVITE"),
    b"\xff\xfe\x00\x01" * 50,
])
def test_not_sip_is_none(payload):
    assert parse_sip(payload) is None


def test_profiles():
    assert [profile_of(m) for m in ("INVITE", "NOTIFY", "REGISTER", "OPTIONS", "PUBLISH")] == \
        ["call", "call", "registration", "default", "default"]
