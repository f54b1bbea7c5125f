"""Pull the fields users search by out of a SIP message, fast, and never raise.

`parse_sip(payload)` returns a `SipInfo`, or None when the payload is not a SIP message we can
trust (no SIP start line, no Call-ID, no CSeq with a method of 3+ letters: heplify-server's
rule). The daemon stores such packets raw; nothing is dropped.

Handled: requests and responses, header names in any case and in compact form (i f t m v c l
k s e o u r x), folded header lines, display names with quotes and angle brackets, sip:, sips:
and tel: URIs, IPv6 hosts in brackets, URIs without a user part. Only the header block is read
(up to the empty line); the body is not looked at.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SipInfo", "parse_sip", "DEFAULT_ALEG_HEADERS", "profile_of"]

DEFAULT_ALEG_HEADERS = ("x-cid", "x-callid-aleg", "x-leg-callid", "x-b2bua-callid")
_CALL_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "UPDATE", "PRACK", "REFER", "INFO",
                           "NOTIFY"})
_COMPACT = {"i": "call-id", "f": "from", "t": "to", "m": "contact", "v": "via",
            "c": "content-type", "l": "content-length", "k": "supported", "s": "subject",
            "e": "content-encoding", "o": "event", "u": "allow-events", "r": "refer-to",
            "x": "session-expires"}
_WANTED = frozenset({"call-id", "from", "to", "contact", "via", "content-type", "cseq",
                     "user-agent", "server", "expires", "p-asserted-identity", "authorization",
                     "proxy-authorization", *DEFAULT_ALEG_HEADERS})
_MAX_HEADERS = 16384  # bytes of header block looked at; longer messages are cut there


@dataclass(slots=True)
class SipInfo:
    is_request: bool
    method: str | None  # request method
    status_code: int | None  # response code
    reason: str | None  # response reason phrase
    ruri: str | None
    ruri_user: str | None
    ruri_domain: str | None
    call_id: str
    cseq_num: int | None
    cseq_method: str
    from_user: str | None = None
    from_domain: str | None = None
    from_tag: str | None = None
    to_user: str | None = None
    to_domain: str | None = None
    to_tag: str | None = None
    user_agent: str | None = None
    contact: str | None = None
    contact_user: str | None = None
    contact_domain: str | None = None
    expires: int | None = None
    content_type: str | None = None
    pid_user: str | None = None
    auth_user: str | None = None
    via_branch: str | None = None
    x_cid: str | None = None
    profile: str = "default"


def profile_of(cseq_method: str) -> str:
    """Homer's table for a message: call, registration or default (by CSeq method)."""
    if cseq_method in _CALL_METHODS:
        return "call"
    return "registration" if cseq_method == "REGISTER" else "default"


def parse_sip(payload: bytes, aleg_headers: tuple[str, ...] = DEFAULT_ALEG_HEADERS) -> SipInfo | None:
    try:
        return _parse(payload, aleg_headers)
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def _parse(payload: bytes, aleg_headers: tuple[str, ...]) -> SipInfo | None:
    end = payload.find(b"\r\n\r\n", 0, _MAX_HEADERS)
    if end < 0:
        end = payload.find(b"\n\n", 0, _MAX_HEADERS)
        if end < 0:
            end = min(len(payload), _MAX_HEADERS)
    text = payload[:end].decode("utf-8", "replace")
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].split(" ", 2)
    if len(start) < 3:
        return None
    headers = _headers(lines, aleg_headers)
    if start[0] == "SIP/2.0":
        if not (len(start[1]) == 3 and start[1].isdigit()):
            return None
        is_request, method, status, reason, ruri = False, None, int(start[1]), start[2], None
    elif start[2].strip() == "SIP/2.0" and start[0].isalpha() and start[0].isupper():
        is_request, method, status, reason, ruri = True, start[0], None, None, start[1]
    else:
        return None
    call_id = headers.get("call-id", "").strip()
    cseq = headers.get("cseq", "").split()
    if not call_id or len(cseq) != 2 or len(cseq[1]) < 3:
        return None
    cseq_num = int(cseq[0]) if cseq[0].isdigit() and len(cseq[0]) <= 10 else None
    info = SipInfo(is_request, method, status, reason, ruri, None, None, call_id,
                   cseq_num if cseq_num is not None and cseq_num < 1 << 32 else None,
                   cseq[1].upper(), profile=profile_of(cseq[1].upper()))
    if ruri is not None:
        info.ruri_user, info.ruri_domain = _user_host(ruri)
    value = headers.get("from")
    if value is not None:
        uri, params = _name_addr(value)
        info.from_user, info.from_domain = _user_host(uri)
        info.from_tag = _param(params, "tag")
    value = headers.get("to")
    if value is not None:
        uri, params = _name_addr(value)
        info.to_user, info.to_domain = _user_host(uri)
        info.to_tag = _param(params, "tag")
    value = headers.get("contact")
    if value is not None:
        info.contact = value.strip()
        uri, params = _name_addr(value.split(",")[0])
        info.contact_user, info.contact_domain = _user_host(uri)
        contact_expires = _param(params, "expires")
        if contact_expires and contact_expires.isdigit():
            info.expires = _u32(contact_expires)
    value = headers.get("expires")
    if value is not None and value.strip().isdigit():
        info.expires = _u32(value.strip())
    info.user_agent = (headers.get("user-agent") or headers.get("server") or "").strip() or None
    info.content_type = (headers.get("content-type") or "").strip() or None
    value = headers.get("p-asserted-identity")
    if value is not None:
        info.pid_user, _ = _user_host(_name_addr(value.split(",")[0])[0])
    value = headers.get("authorization") or headers.get("proxy-authorization")
    if value is not None:
        info.auth_user = _auth_username(value)
    value = headers.get("via")
    if value is not None:
        info.via_branch = _param(value.split(",")[0], "branch")
    for name in aleg_headers:
        value = headers.get(name)
        if value:
            info.x_cid = value.strip()
            break
    return info


def _headers(lines: list[str], aleg_headers: tuple[str, ...]) -> dict[str, str]:
    """The first value of each wanted header (folded lines joined)."""
    wanted = _WANTED.union(aleg_headers)
    out: dict[str, str] = {}
    last = None
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":  # folded continuation of the previous header
            if last is not None and last in out:
                out[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon:
            last = None
            continue
        name = name.strip().lower()
        name = _COMPACT.get(name, name)
        last = None
        if name in wanted and name not in out:
            out[name] = value.strip()
            last = name
    return out


def _name_addr(value: str) -> tuple[str, str]:
    """(URI, header parameters) of `"Display" <uri>;params` or `uri;params`."""
    value = value.strip()
    if value.startswith('"'):  # skip a quoted display name, which may hold '<' or ';'
        i = 1
        while i < len(value):
            if value[i] == "\\":
                i += 2
                continue
            if value[i] == '"':
                break
            i += 1
        rest = value[i + 1:]
    else:
        rest = value
    lt = rest.find("<")
    if lt >= 0:
        gt = rest.find(">", lt)
        if gt < 0:
            return rest[lt + 1:], ""
        return rest[lt + 1:gt], rest[gt + 1:]
    uri, semi, params = rest.partition(";")
    return uri.strip(), semi + params


def _user_host(uri: str) -> tuple[str | None, str | None]:
    """(user, host) of a sip:, sips: or tel: URI; (None, None) for anything else."""
    uri = uri.strip()
    lower = uri[:5].lower()
    if lower.startswith("sips:"):
        rest = uri[5:]
    elif lower.startswith("sip:"):
        rest = uri[4:]
    elif lower.startswith("tel:"):
        number = uri[4:].split(";", 1)[0].strip()
        return (number or None), None
    else:
        return None, None
    rest = rest.split("?", 1)[0]
    user = None
    at = rest.rfind("@")
    if at >= 0:
        user = rest[:at].split(";", 1)[0].split(":", 1)[0] or None
        rest = rest[at + 1:]
    if rest.startswith("["):  # IPv6 reference
        close = rest.find("]")
        host = rest[:close + 1] if close > 0 else rest
    else:
        host = rest.split(";", 1)[0].split(":", 1)[0]
    return user, (host.strip() or None)


def _param(params: str, name: str) -> str | None:
    for part in params.split(";")[1:]:
        key, eq, value = part.partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"') or None if eq else None
    return None


def _auth_username(value: str) -> str | None:
    lower = value.lower()
    at = lower.find("username")
    if at < 0:
        return None
    rest = value[at + len("username"):].lstrip()
    if not rest.startswith("="):
        return None
    rest = rest[1:].strip()
    if rest.startswith('"'):
        end = rest.find('"', 1)
        return rest[1:end] if end > 0 else None
    return rest.split(",", 1)[0].strip() or None


def _u32(text: str) -> int | None:
    value = int(text) if len(text) <= 10 else 1 << 32
    return value if value < 1 << 32 else None
