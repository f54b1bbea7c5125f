"""Parse the SIP fields of many payloads at once: a numba kernel, the fast twin of parser.py.

`parse_batch(data, starts, lengths)` finds, for each payload data[start:start + length], the
byte spans of the fields `parser.parse_sip` extracts (method, Call-ID, From user, ...) and the
numbers it converts (status, CSeq number, Expires), following the same rules to the letter:
the same messages are refused, the same bytes come out. Whatever the kernel cannot represent
as a span of the payload it leaves to parser.py (status SLOW): header blocks that are not
ASCII (Python's case and whitespace rules differ beyond it), folded header lines (their value
is joined from pieces) and CSeq methods that are not upper case (parse_sip upper-cases them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepserver.sip.parser import DEFAULT_ALEG_HEADERS
from hyena.kernels._jit import kernel

__all__ = ["SipBatch", "parse_batch", "NOT_SIP", "PARSED", "SLOW", "SPANS", "PROFILES"]

NOT_SIP, PARSED, SLOW = 0, 1, 255
PROFILES = ("default", "call", "registration")  # profile codes 0, 1, 2
# The string fields, in the order of the kernel's span rows (named as SipInfo's attributes).
SPANS = ("method", "reason", "ruri", "ruri_user", "ruri_domain", "call_id", "cseq_method",
         "from_user", "from_domain", "from_tag", "to_user", "to_domain", "to_tag", "user_agent",
         "contact_user", "contact_domain", "content_type", "pid_user", "auth_user", "via_branch",
         "x_cid")
(_METHOD, _REASON, _RURI, _RURI_USER, _RURI_DOMAIN, _CALL_ID, _CSEQ_METHOD, _FROM_USER,
 _FROM_DOMAIN, _FROM_TAG, _TO_USER, _TO_DOMAIN, _TO_TAG, _USER_AGENT, _CONTACT_USER,
 _CONTACT_DOMAIN, _CONTENT_TYPE, _PID_USER, _AUTH_USER, _VIA_BRANCH, _X_CID) = range(len(SPANS))

# Headers the parser looks at; compact forms map onto them. The A-leg headers come last.
HEADERS = ("call-id", "from", "to", "contact", "via", "content-type", "cseq", "user-agent",
           "server", "expires", "p-asserted-identity", "authorization", "proxy-authorization",
           *DEFAULT_ALEG_HEADERS)
(_H_CALL_ID, _H_FROM, _H_TO, _H_CONTACT, _H_VIA, _H_CONTENT_TYPE, _H_CSEQ, _H_USER_AGENT,
 _H_SERVER, _H_EXPIRES, _H_PAI, _H_AUTHORIZATION, _H_PROXY_AUTHORIZATION) = range(13)
_H_ALEG = 13
_NAMES = np.zeros((len(HEADERS), max(map(len, HEADERS))), np.uint8)
_NAME_LENGTHS = np.array([len(h) for h in HEADERS], np.int64)
for _i, _h in enumerate(HEADERS):
    _NAMES[_i, :len(_h)] = np.frombuffer(_h.encode(), np.uint8)
# Up to two headers per (first letter, length), so a name is compared with at most two.
_CANDIDATES = np.full((128, 32, 2), -1, np.int64)
for _i, _h in enumerate(HEADERS):
    _slot = 0 if _CANDIDATES[ord(_h[0]), len(_h), 0] < 0 else 1
    assert _CANDIDATES[ord(_h[0]), len(_h), _slot] < 0, "more than two headers alike"
    _CANDIDATES[ord(_h[0]), len(_h), _slot] = _i
_COMPACT = np.full(128, -1, np.int64)  # one-letter names that stand for a wanted header
for _letter, _header in (("i", 0), ("f", 1), ("t", 2), ("m", 3), ("v", 4), ("c", 5)):
    _COMPACT[ord(_letter)] = _header
_MAX_HEADERS = 16384  # as parser._MAX_HEADERS
_U32_LIMIT = 1 << 32


def _ascii(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), np.uint8)


_SIP20 = _ascii("SIP/2.0")
_CALL_METHODS = [_ascii(m) for m in ("INVITE", "ACK", "BYE", "CANCEL", "UPDATE", "PRACK",
                                      "REFER", "INFO", "NOTIFY")]
_CALL_PACKED = np.zeros((len(_CALL_METHODS), 8), np.uint8)
_CALL_LENGTHS = np.array([len(m) for m in _CALL_METHODS], np.int64)
for _i, _m in enumerate(_CALL_METHODS):
    _CALL_PACKED[_i, :len(_m)] = _m
_REGISTER = _ascii("REGISTER")
_WORDS = {w: _ascii(w) for w in ("tag", "expires", "branch", "username")}
_TAG, _EXPIRES, _BRANCH, _USERNAME = (_WORDS[w] for w in ("tag", "expires", "branch",
                                                          "username"))


@dataclass
class SipBatch:
    """Parsed fields of n payloads; a span's start is -1 when the field is None."""

    status: np.ndarray  # u8: NOT_SIP, PARSED or SLOW
    span_start: np.ndarray  # i64 [len(SPANS), n]
    span_end: np.ndarray  # i64 [len(SPANS), n]
    status_code: np.ndarray  # i64, -1 None
    cseq_num: np.ndarray  # i64, -1 None
    expires: np.ndarray  # i64, -1 None
    profile: np.ndarray  # u8 index into PROFILES


# --- byte helpers (Python's str semantics on ASCII) --------------------------------------------

@kernel
def _space(c: int) -> bool:
    """str.isspace() for an ASCII character (what strip() and split() remove)."""
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31


@kernel
def _strip(data: np.ndarray, a: int, b: int) -> tuple:
    while a < b and _space(data[a]):
        a += 1
    while b > a and _space(data[b - 1]):
        b -= 1
    return a, b


@kernel
def _skip(data: np.ndarray, a: int, b: int, spaces: bool) -> int:
    """The first position from a (before b) that is not a space (spaces=True), or that is
    one (spaces=False): skips blanks or one word."""
    while a < b and _space(data[a]) == spaces:
        a += 1
    return a


@kernel
def _find(data: np.ndarray, a: int, b: int, c: int) -> int:
    """First position of byte c in data[a:b], else -1. (Loops index views from 0 throughout
    this module: numba then drops the negative-index check, which otherwise costs ~0.7 ns
    per byte.)"""
    if b <= a:
        return -1
    view = data[a:b]
    for k in range(view.shape[0]):
        if view[k] == c:
            return a + k
    return -1


@kernel
def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


@kernel
def _equal_lower(data: np.ndarray, a: int, b: int, word: np.ndarray, n: int) -> bool:
    """data[a:b].lower() == word[:n]."""
    if b - a != n:
        return False
    view = data[a:b]
    for k in range(view.shape[0]):
        if _lower(view[k]) != word[k]:
            return False
    return True


@kernel
def _equal(data: np.ndarray, a: int, b: int, word: np.ndarray, n: int) -> bool:
    if b - a != n:
        return False
    view = data[a:b]
    for k in range(view.shape[0]):
        if view[k] != word[k]:
            return False
    return True


@kernel
def _digits(data: np.ndarray, a: int, b: int) -> bool:
    """str.isdigit() on ASCII: non-empty, 0-9 only."""
    if b <= a:
        return False
    for i in range(a, b):
        if not 48 <= data[i] <= 57:
            return False
    return True


@kernel
def _number(data: np.ndarray, a: int, b: int) -> int:
    value = 0
    for i in range(a, b):
        value = value * 10 + (data[i] - 48)
    return value


@kernel
def _u32(data: np.ndarray, a: int, b: int) -> int:
    """parser._u32 of digits data[a:b]: the value, or -1 (None) from 2**32 on."""
    if b - a > 10:
        return -1
    value = _number(data, a, b)
    return value if value < _U32_LIMIT else -1


# --- the parser's helpers, on spans ---------------------------------------------------------------

@kernel
def _user_host(data: np.ndarray, a: int, b: int) -> tuple:
    """parser._user_host: (user start, end, host start, end); -1 starts for None."""
    a, b = _strip(data, a, b)
    n = b - a
    c0 = _lower(data[a]) if n > 0 else 0
    c1 = _lower(data[a + 1]) if n > 1 else 0
    c2 = _lower(data[a + 2]) if n > 2 else 0
    c3 = data[a + 3] if n > 3 else 0
    c4 = data[a + 4] if n > 4 else 0
    if c0 == 115 and c1 == 105 and c2 == 112 and _lower(c3) == 115 and c4 == 58:  # sips:
        r = a + 5
    elif c0 == 115 and c1 == 105 and c2 == 112 and c3 == 58:  # sip:
        r = a + 4
    elif c0 == 116 and c1 == 101 and c2 == 108 and c3 == 58:  # tel:
        semi = _find(data, a + 4, b, 59)
        x, y = _strip(data, a + 4, semi if semi >= 0 else b)
        return (x if y > x else -1), y, -1, -1
    else:
        return -1, -1, -1, -1
    q = _find(data, r, b, 63)  # ?
    e = q if q >= 0 else b
    user_a, user_b = -1, -1
    at = -1
    if e > r:
        view = data[r:e]
        for k in range(view.shape[0] - 1, -1, -1):
            if view[k] == 64:  # the last @
                at = r + k
                break
    if at >= 0:
        semi = _find(data, r, at, 59)
        ub = semi if semi >= 0 else at
        colon = _find(data, r, ub, 58)
        ub = colon if colon >= 0 else ub
        if ub > r:
            user_a, user_b = r, ub
        r = at + 1
    if r < e and data[r] == 91:  # [ : an IPv6 reference
        close = _find(data, r, e, 93)
        hb = close + 1 if close > r else e
    else:
        semi = _find(data, r, e, 59)
        hb = semi if semi >= 0 else e
        colon = _find(data, r, hb, 58)
        hb = colon if colon >= 0 else hb
    x, y = _strip(data, r, hb)
    return user_a, user_b, (x if y > x else -1), y


@kernel
def _name_addr(data: np.ndarray, a: int, b: int) -> tuple:
    """parser._name_addr: (uri start, end, params start, end)."""
    a, b = _strip(data, a, b)
    r = a
    if a < b and data[a] == 34:  # a quoted display name
        i = a + 1
        while i < b:
            if data[i] == 92:  # backslash
                i += 2
                continue
            if data[i] == 34:
                break
            i += 1
        r = min(i + 1, b)
    lt = _find(data, r, b, 60)
    if lt >= 0:
        gt = _find(data, lt, b, 62)
        if gt < 0:
            return lt + 1, b, b, b
        return lt + 1, gt, gt + 1, b
    semi = _find(data, r, b, 59)
    if semi < 0:
        x, y = _strip(data, r, b)
        return x, y, b, b
    x, y = _strip(data, r, semi)
    return x, y, semi, b


@kernel
def _param(data: np.ndarray, a: int, b: int, name: np.ndarray) -> tuple:
    """parser._param: the value's (start, end) of the first `;name=` parameter, -1 for None."""
    semi = _find(data, a, b, 59)
    while semi >= 0:
        s = semi + 1
        nxt = _find(data, s, b, 59)
        e = nxt if nxt >= 0 else b
        eq = _find(data, s, e, 61)
        ka, kb = _strip(data, s, eq if eq >= 0 else e)
        if _equal_lower(data, ka, kb, name, name.shape[0]):
            if eq < 0:
                return -1, -1
            x, y = _strip(data, eq + 1, e)
            while x < y and data[x] == 34:
                x += 1
            while y > x and data[y - 1] == 34:
                y -= 1
            return (x if y > x else -1), y
        semi = nxt
    return -1, -1


@kernel
def _auth_username(data: np.ndarray, a: int, b: int) -> tuple:
    """parser._auth_username: (start, end) or -1; an empty quoted name is "" (not None)."""
    at = -1
    if b - a >= 8:
        view = data[a:b - 7]
        for k in range(view.shape[0]):
            if (view[k] | 32) == 117 and _equal_lower(data, a + k, a + k + 8, _USERNAME, 8):
                at = a + k  # ("u" or "U" first: the full comparison is rare)
                break
    if at < 0:
        return -1, -1
    r = at + 8
    while r < b and _space(data[r]):
        r += 1
    if r >= b or data[r] != 61:  # =
        return -1, -1
    x, y = _strip(data, r + 1, b)
    if x < y and data[x] == 34:
        end = _find(data, x + 1, y, 34)
        return (x + 1, end) if end > x else (-1, -1)
    comma = _find(data, x, y, 44)
    x, y = _strip(data, x, comma if comma >= 0 else y)
    return (x if y > x else -1), y


@kernel
def _first_element(data: np.ndarray, a: int, b: int) -> int:
    """End of value.split(",")[0]."""
    comma = _find(data, a, b, 44)
    return comma if comma >= 0 else b


@kernel
def _profile(data: np.ndarray, a: int, b: int) -> int:
    for k in range(_CALL_PACKED.shape[0]):
        if _equal(data, a, b, _CALL_PACKED[k], _CALL_LENGTHS[k]):
            return 1
    return 2 if _equal(data, a, b, _REGISTER, 8) else 0


# --- one message --------------------------------------------------------------------------------

@kernel
def _scan(data: np.ndarray, a: int, b: int, line_start: np.ndarray,
          line_colon: np.ndarray) -> tuple:
    """One pass over the header block: where it ends (parser._parse's `end`: the first CRLF
    CRLF within _MAX_HEADERS bytes, else the first LF LF, else as far as looked), where each
    line starts and its first colon, and the first non-ASCII byte. Returns (end, lines,
    first non-ASCII position or -1)."""
    limit = a + min(b - a, _MAX_HEADERS)
    lines = 1
    line_start[0] = a
    line_colon[0] = -1
    high = -1
    lflf = -1
    view = data[a:limit]
    previous = np.uint32(0)  # the last three bytes, oldest highest
    for k in range(view.shape[0]):
        c = view[k]
        if c >= 128:
            if high < 0:
                high = a + k
        elif c == 58:
            if line_colon[lines - 1] < 0:
                line_colon[lines - 1] = a + k
        elif c == 10:
            if previous == 0x0D0A0D:  # CR LF CR before this LF
                return a + k - 3, lines, high
            if lflf < 0 and (previous & 0xFF) == 10 and k > 0:
                lflf = a + k - 1
            line_start[lines] = a + k + 1
            line_colon[lines] = -1
            lines += 1
        previous = ((previous << np.uint32(8)) | np.uint32(c)) & np.uint32(0xFFFFFF)
    return (lflf if lflf >= 0 else limit), lines, high


@kernel
def _header_id(data: np.ndarray, a: int, b: int) -> int:
    """Which wanted header the (stripped) name data[a:b] is, by lower case or compact form."""
    n = b - a
    if n == 1:
        c = _lower(data[a])
        return _COMPACT[c] if c < 128 else -1
    if n == 0 or n >= _CANDIDATES.shape[1]:
        return -1
    c = _lower(data[a])
    if c >= 128:
        return -1
    for j in range(2):
        k = _CANDIDATES[c, n, j]
        if k >= 0 and _equal_lower(data, a, b, _NAMES[k], n):
            return k
    return -1


@kernel
def _parse_one(data, a, b, i, spans_a, spans_b, status_code, cseq_num, expires, profile,
               header_a, header_b, line_start, line_colon) -> int:
    end, lines, high = _scan(data, a, b, line_start, line_colon)
    if 0 <= high < end:
        return SLOW  # parse_sip decodes with replacement characters, str rules differ
    # lines end at an LF inside the block (a CR right before it is not part of the line)
    header_a[:] = -1
    first_a, first_b = a, end
    last = -1
    for k in range(lines):
        la = line_start[k]
        if la > end:
            break
        lb = end
        if k + 1 < lines and line_start[k + 1] - 1 < end:
            lb = line_start[k + 1] - 1
            if lb > la and data[lb - 1] == 13:
                lb -= 1
        if k == 0:
            first_b = lb
            continue
        if lb == la:
            continue
        if data[la] == 32 or data[la] == 9:  # folded continuation
            if last >= 0:
                return SLOW  # its value is joined from pieces
            continue
        colon = line_colon[k]
        last = -1
        if colon < 0 or colon >= lb:
            continue
        na, nb = _strip(data, la, colon)
        h = _header_id(data, na, nb)
        if h >= 0 and header_a[h] < 0:
            header_a[h], header_b[h] = _strip(data, colon + 1, lb)
            last = h
    # start line: split(" ", 2)
    sp1 = _find(data, first_a, first_b, 32)
    if sp1 < 0:
        return NOT_SIP
    sp2 = _find(data, sp1 + 1, first_b, 32)
    if sp2 < 0:
        return NOT_SIP
    is_request = False
    if _equal(data, first_a, sp1, _SIP20, 7):
        if not (sp2 - sp1 - 1 == 3 and _digits(data, sp1 + 1, sp2)):
            return NOT_SIP
        code = _number(data, sp1 + 1, sp2)
    else:
        x, y = _strip(data, sp2 + 1, first_b)
        if not _equal(data, x, y, _SIP20, 7) or sp1 == first_a:
            return NOT_SIP
        for q in range(first_a, sp1):
            if not 65 <= data[q] <= 90:
                return NOT_SIP
        is_request = True
        code = -1
    # Call-ID and CSeq are required
    if header_a[_H_CALL_ID] < 0 or header_b[_H_CALL_ID] <= header_a[_H_CALL_ID]:
        return NOT_SIP
    if header_a[_H_CSEQ] < 0:
        return NOT_SIP
    ca, cb = header_a[_H_CSEQ], header_b[_H_CSEQ]
    t0a = _skip(data, ca, cb, True)  # number, method: two words and nothing after them
    t0b = _skip(data, t0a, cb, False)
    t1a = _skip(data, t0b, cb, True)
    t1b = _skip(data, t1a, cb, False)
    rest = _skip(data, t1b, cb, True)
    if t0b == t0a or t1b == t1a or rest < cb or t1b - t1a < 3:
        return NOT_SIP  # not exactly two words, or a method shorter than 3
    for q in range(t1a, t1b):
        if 97 <= data[q] <= 122:
            return SLOW  # parse_sip upper-cases the method
    # accepted: fill the fields
    status_code[i] = code
    if _digits(data, t0a, t0b) and t0b - t0a <= 10:
        number = _number(data, t0a, t0b)
        cseq_num[i] = number if number < _U32_LIMIT else -1
    spans_a[_CSEQ_METHOD, i], spans_b[_CSEQ_METHOD, i] = t1a, t1b
    profile[i] = _profile(data, t1a, t1b)
    spans_a[_CALL_ID, i], spans_b[_CALL_ID, i] = header_a[_H_CALL_ID], header_b[_H_CALL_ID]
    if is_request:
        spans_a[_METHOD, i], spans_b[_METHOD, i] = first_a, sp1
        spans_a[_RURI, i], spans_b[_RURI, i] = sp1 + 1, sp2
        ua, ub, ha, hb = _user_host(data, sp1 + 1, sp2)
        spans_a[_RURI_USER, i], spans_b[_RURI_USER, i] = ua, ub
        spans_a[_RURI_DOMAIN, i], spans_b[_RURI_DOMAIN, i] = ha, hb
    else:
        spans_a[_REASON, i], spans_b[_REASON, i] = sp2 + 1, first_b
    for h, user, domain, tag in ((_H_FROM, _FROM_USER, _FROM_DOMAIN, _FROM_TAG),
                                 (_H_TO, _TO_USER, _TO_DOMAIN, _TO_TAG)):
        if header_a[h] >= 0:
            xa, xb, pa, pb = _name_addr(data, header_a[h], header_b[h])
            ua, ub, ha, hb = _user_host(data, xa, xb)
            spans_a[user, i], spans_b[user, i] = ua, ub
            spans_a[domain, i], spans_b[domain, i] = ha, hb
            spans_a[tag, i], spans_b[tag, i] = _param(data, pa, pb, _TAG)
    if header_a[_H_CONTACT] >= 0:
        va = header_a[_H_CONTACT]
        xa, xb, pa, pb = _name_addr(data, va, _first_element(data, va, header_b[_H_CONTACT]))
        ua, ub, ha, hb = _user_host(data, xa, xb)
        spans_a[_CONTACT_USER, i], spans_b[_CONTACT_USER, i] = ua, ub
        spans_a[_CONTACT_DOMAIN, i], spans_b[_CONTACT_DOMAIN, i] = ha, hb
        ea, eb = _param(data, pa, pb, _EXPIRES)
        if ea >= 0 and _digits(data, ea, eb):
            expires[i] = _u32(data, ea, eb)
    if header_a[_H_EXPIRES] >= 0 and _digits(data, header_a[_H_EXPIRES],
                                             header_b[_H_EXPIRES]):
        expires[i] = _u32(data, header_a[_H_EXPIRES], header_b[_H_EXPIRES])
    for h in (_H_USER_AGENT, _H_SERVER):
        if header_a[h] >= 0 and header_b[h] > header_a[h]:
            spans_a[_USER_AGENT, i], spans_b[_USER_AGENT, i] = header_a[h], header_b[h]
            break
    if header_a[_H_CONTENT_TYPE] >= 0 and header_b[_H_CONTENT_TYPE] > header_a[_H_CONTENT_TYPE]:
        spans_a[_CONTENT_TYPE, i] = header_a[_H_CONTENT_TYPE]
        spans_b[_CONTENT_TYPE, i] = header_b[_H_CONTENT_TYPE]
    if header_a[_H_PAI] >= 0:
        va = header_a[_H_PAI]
        xa, xb, _, _ = _name_addr(data, va, _first_element(data, va, header_b[_H_PAI]))
        ua, ub, _, _ = _user_host(data, xa, xb)
        spans_a[_PID_USER, i], spans_b[_PID_USER, i] = ua, ub
    h = _H_AUTHORIZATION
    if header_a[h] < 0 or header_b[h] <= header_a[h]:
        h = _H_PROXY_AUTHORIZATION
    if header_a[h] >= 0:
        spans_a[_AUTH_USER, i], spans_b[_AUTH_USER, i] = _auth_username(data, header_a[h],
                                                                        header_b[h])
    if header_a[_H_VIA] >= 0:
        va = header_a[_H_VIA]
        spans_a[_VIA_BRANCH, i], spans_b[_VIA_BRANCH, i] = _param(
            data, va, _first_element(data, va, header_b[_H_VIA]), _BRANCH)
    for h in range(_H_ALEG, header_a.shape[0]):
        if header_a[h] >= 0 and header_b[h] > header_a[h]:
            spans_a[_X_CID, i], spans_b[_X_CID, i] = header_a[h], header_b[h]
            break
    return PARSED


@kernel
def _parse_all(data, starts, lengths, status, spans_a, spans_b, status_code, cseq_num,
               expires, profile, header_a, header_b, line_start, line_colon) -> None:
    for i in range(starts.shape[0]):
        a = starts[i]
        status[i] = _parse_one(data, a, a + lengths[i], i, spans_a, spans_b, status_code,
                               cseq_num, expires, profile, header_a, header_b, line_start,
                               line_colon)


def parse_batch(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> SipBatch:
    """Parse payload i = data[starts[i]:starts[i] + lengths[i]] for every i."""
    n = len(starts)
    out = SipBatch(status=np.zeros(n, np.uint8),
                   span_start=np.full((len(SPANS), n), -1, np.int64),
                   span_end=np.full((len(SPANS), n), -1, np.int64),
                   status_code=np.full(n, -1, np.int64), cseq_num=np.full(n, -1, np.int64),
                   expires=np.full(n, -1, np.int64), profile=np.zeros(n, np.uint8))
    header_a = np.empty(len(HEADERS), np.int64)
    header_b = np.empty(len(HEADERS), np.int64)
    line_start = np.empty(_MAX_HEADERS + 1, np.int64)
    line_colon = np.empty(_MAX_HEADERS + 1, np.int64)
    _parse_all(data, np.ascontiguousarray(starts, np.int64),
               np.ascontiguousarray(lengths, np.int64), out.status, out.span_start,
               out.span_end, out.status_code, out.cseq_num, out.expires, out.profile,
               header_a, header_b, line_start, line_colon)
    return out
