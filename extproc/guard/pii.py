"""PII and credential detectors: anchored regexes plus checksum validation.

Speed comes from never sweeping the whole text with a slow regex. :func:`prepare` lower-cases
the text once and builds its set of ASCII words; then

* numeric PII (cards, IBAN, SSN, phones, national ids) is only looked for around *digit
  clusters*, found by one fast regex sweep (skipped when the text has no digit);
* e-mail addresses only around each ``@``;
* each secret format only where its prefix occurs, and only when the word set says the prefix
  (for AWS key ids: a 20+ character word starting with it) is present;
* context-only ids (a bare 9-digit SSN, ...) only when a keyword precedes the cluster.

Regex rules (see docs/prompt-guard.md): every repetition is bounded or possessive and no two
adjacent repeats can match the same characters, so a failed match costs O(bound). Patterns are
``match``-ed at their anchors; only when anchors are dense (a flood) is one ``finditer`` sweep
used instead, which is cheaper than a Python loop over them. Python-level candidate checks
draw on a per-scan :class:`Budget`; when it runs out the scan is reported as truncated.

Hits carry a masked ``preview``; the matched value itself is never stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Literal, NamedTuple

__all__ = [
    "DENSE_ANCHORS",
    "IBAN_LENGTHS",
    "PII_KINDS",
    "SECRET_KINDS",
    "VALIDATION_BUDGET",
    "Budget",
    "Hit",
    "Severity",
    "Text",
    "card_brand",
    "find_generic_secrets",
    "find_pii",
    "find_secrets",
    "iban_valid",
    "luhn_valid",
    "prepare",
    "shannon_entropy",
    "steuer_id_valid",
    "verhoeff_valid",
]

Severity = Literal["low", "medium", "high"]
#: (kind, start, end, severity, preview)
Hit = tuple[str, int, int, Severity, str]

PII_KINDS: frozenset[str] = frozenset(
    "email phone card iban ssn uk_nino es_dni es_nie in_aadhaar de_tax_id".split()
)
SECRET_KINDS: frozenset[str] = frozenset(
    f"secret:{k}"
    for k in "aws_access_key aws_secret_key github_token openai_key slack_token google_api_key "
    "private_key jwt generic".split()
)

# ---- prepared text ------------------------------------------------------------------------

_WORD_TABLE = bytes.maketrans(
    bytes(range(256)), bytes(c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))
)
_MARK_TABLE = bytes.maketrans(bytes(range(256)), bytes(32 if c == 32 else 120 for c in range(256)))
_LONG_WORD = b"x" * 20
#: Candidate validations allowed per scanned segment before it is reported as truncated.
VALIDATION_BUDGET = 10_000
#: More anchor occurrences than this: one ``finditer`` sweep beats a Python loop over them.
DENSE_ANCHORS = 64


class Budget:
    """Work left for the expensive (Python-level) candidate checks of one segment."""

    __slots__ = ("left",)

    def __init__(self, left: int = VALIDATION_BUDGET) -> None:
        self.left = left

    def spend(self, units: int = 1) -> bool:
        """Take ``units``; False once the budget is gone (the caller stops looking)."""
        self.left -= units
        return self.left >= 0

    @property
    def exhausted(self) -> bool:
        return self.left < 0


class Text(NamedTuple):
    """A text with what every detector needs: the lower-cased copy and its ASCII words."""

    text: str
    lowered: str  # same length as ``text``: positions are shared
    words: frozenset[bytes]  # maximal runs of [a-z0-9] in ``lowered``
    long_heads: frozenset[bytes]  # first 4 bytes of each word of 20+ characters
    budget: Budget


def prepare(text: str) -> Text:
    lowered = text.lower()
    if len(lowered) != len(text):  # only U+0130 grows under str.lower()
        lowered = text.replace("\u0130", "i").lower()
    spaced = lowered.encode("ascii", "replace").translate(_WORD_TABLE)
    words = frozenset(spaced.split())
    long_heads: frozenset[bytes] = frozenset()
    if _LONG_WORD in spaced.translate(_MARK_TABLE):
        long_heads = frozenset(w[:4] for w in words if len(w) >= 20)
    return Text(text, lowered, words, long_heads, Budget())


def _anchored(
    regex: re.Pattern[str], text: str, hay: str, needles: tuple[str, ...]
) -> Iterator[re.Match[str]]:
    """``regex.match`` at each occurrence of each needle in ``hay`` (``text`` or its lower-case
    copy); one ``regex.finditer`` sweep instead when the needles are dense."""
    counts = [hay.count(n) for n in needles]
    if sum(counts) > DENSE_ANCHORS:
        yield from regex.finditer(text)
        return
    for needle, count in zip(needles, counts, strict=True):
        if not count:
            continue
        i = hay.find(needle)
        while i >= 0:
            m = regex.match(text, i)
            if m is not None:
                yield m
                i = hay.find(needle, max(m.end(), i + 1))
            else:
                i = hay.find(needle, i + 1)


# ---- validators ---------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10) check of an ASCII digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# (prefix range low, high, prefix length, allowed lengths, brand)
_IIN: tuple[tuple[int, int, int, frozenset[int], str], ...] = (
    (4, 4, 1, frozenset({13, 16, 19}), "visa"),
    (51, 55, 2, frozenset({16}), "mastercard"),
    (2221, 2720, 4, frozenset({16}), "mastercard"),
    (34, 34, 2, frozenset({15}), "amex"),
    (37, 37, 2, frozenset({15}), "amex"),
    (6011, 6011, 4, frozenset(range(16, 20)), "discover"),
    (644, 649, 3, frozenset(range(16, 20)), "discover"),
    (65, 65, 2, frozenset(range(16, 20)), "discover"),
    (3528, 3589, 4, frozenset(range(16, 20)), "jcb"),
    (300, 305, 3, frozenset(range(14, 20)), "diners"),
    (36, 36, 2, frozenset(range(14, 20)), "diners"),
    (38, 39, 2, frozenset(range(14, 20)), "diners"),
    (62, 62, 2, frozenset(range(16, 20)), "unionpay"),
    (2200, 2204, 4, frozenset(range(16, 20)), "mir"),
    (5018, 5018, 4, frozenset(range(13, 20)), "maestro"),
    (5020, 5020, 4, frozenset(range(13, 20)), "maestro"),
    (5038, 5038, 4, frozenset(range(13, 20)), "maestro"),
    (5893, 5893, 4, frozenset(range(13, 20)), "maestro"),
    (6304, 6304, 4, frozenset(range(13, 20)), "maestro"),
    (6759, 6759, 4, frozenset(range(13, 20)), "maestro"),
    (6761, 6763, 4, frozenset(range(13, 20)), "maestro"),
)


def card_brand(digits: str) -> str | None:
    """The card network whose IIN range and length fit ``digits``, or None."""
    n = len(digits)
    for low, high, plen, lengths, brand in _IIN:
        if n in lengths and low <= int(digits[:plen]) <= high:
            return brand
    return None


#: IBAN length per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


_IBAN_DIGITS = {ord(c): str(i) for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10)}


def iban_valid(iban: str) -> bool:
    """Country length table + ISO 7064 mod-97 check of a compact upper-case IBAN."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isascii() or not iban.isalnum():
        return False
    return int((iban[4:] + iban[:4]).translate(_IBAN_DIGITS)) % 97 == 1


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_valid(digits: str) -> bool:
    """Verhoeff check (Aadhaar's last digit) of an ASCII digit string."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def steuer_id_valid(digits: str) -> bool:
    """German Steuer-ID: 11 digits, no leading 0, digit-repeat rule, ISO 7064 MOD 11,10."""
    if len(digits) != 11 or digits[0] == "0":
        return False
    counts = sorted(Counter(digits[:10]).values(), reverse=True)
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] > 1):
        return False
    product = 10
    for ch in digits[:10]:
        s = (ord(ch) - 48 + product) % 10 or 10
        product = (s * 2) % 11
    check = 11 - product
    return (0 if check == 10 else check) == ord(digits[10]) - 48


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_valid(number: str, letter: str) -> bool:
    """Spanish DNI/NIE check letter (NIE: X/Y/Z stand for 0/1/2)."""
    if number[0] in "XYZ":
        number = str("XYZ".index(number[0])) + number[1:]
    return _DNI_LETTERS[int(number) % 23] == letter


def shannon_entropy(s: str) -> float:
    """Bits per character of ``s``."""
    n = len(s)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


# ---- masking ------------------------------------------------------------------------------


def _mask_alnum(raw: str, keep_first: int = 0, keep_last: int = 0) -> str:
    """Replace letters/digits with ``*`` except the first/last few; separators stay."""
    total = sum(c.isalnum() for c in raw)
    out = []
    seen = 0
    for c in raw:
        if c.isalnum():
            seen += 1
            if keep_first < seen <= total - keep_last:
                c = "*"
        out.append(c)
    return "".join(out)


def _mask_secret(prefix: str) -> str:
    return f"{prefix}****"


# ---- e-mail -------------------------------------------------------------------------------

_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_EMAIL_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9\-]|\.[A-Za-z0-9])"
)


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}+@(" + _EMAIL_DOMAIN.pattern + ")"
)


def _find_email(text: str) -> Iterator[Hit]:
    if text.count("@") > DENSE_ANCHORS:
        for hit in _EMAIL.finditer(text):
            local = text[hit.start() : hit.start(1) - 1]
            if local[0] != "." and local[-1] != "." and ".." not in local:
                yield "email", hit.start(), hit.end(), "medium", f"{local[0]}***@{hit.group(1)}"
        return
    at = text.find("@")
    while at >= 0:
        start = at
        while start > 0 and at - start < 64 and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        local = text[start:at]
        ok = bool(local) and not (start > 0 and text[start - 1] in _EMAIL_LOCAL)
        if ok and local[0] != "." and local[-1] != "." and ".." not in local:
            m = _EMAIL_DOMAIN.match(text, at + 1)
            if m is not None:
                yield "email", start, m.end(), "medium", f"{local[0]}***@{m.group()}"
                at = text.find("@", m.end())
                continue
        at = text.find("@", at + 1)


# ---- numeric PII around digit clusters ----------------------------------------------------

# Two or more digits, joined by at most three of " ().-".
_CLUSTER = re.compile(r"[0-9](?:[ ().\-]{0,3}[0-9])++")
_DIGITS = "0123456789"
_DROP_SEPARATORS = str.maketrans("", "", " ().-")

# Cards and grouped Aadhaar: 12-19 digits as one run, 4-4-4[-4[-3]] groups, or 4-6-4/5
# (Amex, Diners). Each alternative is deterministic: no backtracking across groupings.
_DIGIT_RUN = re.compile(
    r"(?<![0-9A-Za-z_])"
    r"(?:[0-9]{12,19}|[0-9]{4}([ \-])[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,4}(?:\1[0-9]{3})?)?"
    r"|[0-9]{4}([ \-])[0-9]{6}\2[0-9]{4,5})"
    r"(?![0-9A-Za-z_]|-[0-9])"
)
_SEPS = re.compile(r"[ \-]")
_SSN = re.compile(
    r"(?<![0-9A-Za-z_\-])([0-9]{3})([\- ])([0-9]{2})\2([0-9]{4})(?![0-9A-Za-z_]|-[0-9])"
)
# Starts: "+<country>", a trunk 0 ("020", "(0..."), a NANP area code, or "1-" + area code.
_PHONE = re.compile(
    r"(?<![\w+.\-/])"
    r"(?:\+[1-9]|\(?0[0-9]|\(?[2-9][0-9]{2}(?=[) .\-])|1[ .\-]\(?[2-9][0-9]{2})"
    r"[0-9 ().\-]{3,20}[0-9](?![\w]|[.\-/][0-9])"
)
_PHONE_GROUPS = re.compile(r"[ ().\-]+")
_PHONE_BAD_SEPS = re.compile(r"[ .\-]{2,}|[().\-][ .\-]*[().\-]")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){10,32}")
_NINO = re.compile(
    r"(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"
    r"(?![A-Za-z0-9])"
)
_NINO_BAD_PREFIX = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_DNI = re.compile(r"(?<![A-Za-z0-9])([XYZ]-?[0-9]{7}|[0-9]{8})-?([A-Z])(?![A-Za-z0-9])")

# Keywords that must end right before a bare number (search window: 48 characters).
_CTX_WINDOW = 48
_SSN_CTX = re.compile(r"(?i)\b(?:ssn|social security(?: number| no\.?)?|ss#)\W{0,5}(?:is\W{1,3})?$")
_AADHAAR_CTX = re.compile(r"(?i)\b(?:aadhaa?r|uidai)\b[^0-9\n]{0,24}$")
_STEUER_CTX = re.compile(
    r"(?i)\b(?:steuer[\- ]?id(?:entifikationsnummer)?|identifikationsnummer|idnr|"
    r"tax[\- ]?id(?:entification number)?)\b[^0-9\n]{0,24}$"
)
_PHONE_CTX = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|call me(?: at| on)?|fax|whatsapp|sms|"
    r"contact number)\b[^0-9\n]{0,20}$"
)
_SSN_WORDS = frozenset({b"ssn", b"social", b"ss"})
_AADHAAR_WORDS = frozenset({b"aadhaar", b"aadhar", b"uidai"})
_STEUER_WORDS = frozenset(
    {b"steuer", b"steuerid", b"identifikationsnummer", b"steueridentifikationsnummer", b"idnr",
     b"tax", b"taxid"}
)  # fmt: skip
_PHONE_WORDS = frozenset(
    {b"phone", b"tel", b"telephone", b"mobile", b"cell", b"call", b"fax", b"whatsapp", b"sms",
     b"contact"}
)  # fmt: skip


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _digit_runs(text: str, lo: int, hi: int, budget: Budget) -> Iterator[Hit]:
    """Payment cards (grouping, IIN, Luhn) and grouped Aadhaar numbers (Verhoeff)."""
    for m in _DIGIT_RUN.finditer(text, lo, hi):
        if not budget.spend():
            return
        raw = m.group()
        groups = _SEPS.split(raw)
        digits = "".join(groups)
        if len(groups) == 5 and not (card_brand(digits) and luhn_valid(digits)):
            raw, digits = raw[:19], digits[:16]  # "4111 1111 1111 1111 123": card + CVV
        if len(digits) == 12:
            if (
                [len(g) for g in groups] == [4, 4, 4]
                and digits[0] not in "01"
                and (verhoeff_valid(digits))
            ):
                yield "in_aadhaar", m.start(), m.end(), "high", _mask_alnum(raw, keep_last=4)
        elif len(digits) >= 13 and card_brand(digits) and luhn_valid(digits):
            end = m.start() + len(raw)
            yield "card", m.start(), end, "high", _mask_alnum(raw, keep_first=4, keep_last=4)


def _ssns(text: str, lo: int, hi: int, budget: Budget) -> Iterator[Hit]:
    for m in _SSN.finditer(text, lo, hi):
        if not budget.spend():
            return
        area, sep, group, serial = m.groups()
        if _ssn_valid(area, group, serial):
            yield "ssn", m.start(), m.end(), "high", f"***{sep}**{sep}{serial}"


_NO, _RETRY, _OK = 0, 1, 2


def _phone_shape(raw: str) -> int:
    """E.164-ish with ``+``, NANP, or trunk-0 national: ``_OK``; ``_RETRY``: maybe without
    its last group ("020 7946 0958 12"); ``_NO``: hopeless."""
    if raw.count("(") > 1 or raw.count("(") != raw.count(")") or _PHONE_BAD_SEPS.search(raw):
        return _NO
    if "(" in raw and raw.index("(") > raw.index(")"):
        return _NO
    groups = [g for g in _PHONE_GROUPS.split(raw.lstrip("+")) if g]
    n = sum(len(g) for g in groups)
    if raw[0] == "+":
        return _OK if 8 <= n <= 15 and raw[1] != "0" else _RETRY if n > 15 else _NO
    if groups[0] == "1" and len(groups) >= 4:  # 1-800-555-0199
        groups = groups[1:]
    lengths = [len(g) for g in groups]
    first = groups[0]
    if first[0] != "0":  # NANP: 3-3-4
        if lengths[:3] != [3, 3, 4] or first[0] == "1" or groups[1][0] in "01":
            return _NO
        return _OK if len(lengths) == 3 else _RETRY
    if lengths == [3, 2, 4] or first.startswith("000") or lengths[0] > 5 or min(lengths) < 2:
        return _NO  # SSN-shaped, not a trunk prefix, or odd grouping
    if len(groups) < 2 or n < 9:
        return _NO
    return _OK if n <= 12 else _RETRY


def _phones(text: str, lo: int, hi: int, budget: Budget) -> Iterator[Hit]:
    for m in _PHONE.finditer(text, lo, hi):
        if not budget.spend():
            return
        raw, end = m.group(), m.end()
        for _ in range(3):
            shape = _phone_shape(raw)
            if shape == _OK:
                yield "phone", m.start(), end, "medium", _mask_alnum(raw, keep_last=2)
            if shape != _RETRY:
                break
            raw = raw[: max(raw.rfind(" "), 0)].rstrip(" (")  # drop the last group
            end = m.start() + len(raw)
            if not raw or not raw[-1].isdigit():
                break


def _iban_at(text: str, start: int) -> Hit | None:
    m = _IBAN.match(text, start)
    if m is None:
        return None
    raw = m.group()
    want = IBAN_LENGTHS.get(raw[:2].upper())
    if want is None:
        return None
    cut = want + raw.count(" ", 0, want)  # index just past the `want`-th alphanumeric
    while (spaces := raw.count(" ", 0, cut)) != cut - want:
        cut = want + spaces
    if cut > len(raw) or raw[cut - 1] == " " or (cut < len(raw) and raw[cut] != " "):
        return None
    if not iban_valid(raw[:cut].replace(" ", "").upper()):
        return None
    return "iban", start, start + cut, "high", _mask_alnum(raw[:cut], keep_first=2, keep_last=4)


def _nino_at(text: str, start: int) -> Hit | None:
    m = _NINO.match(text, start)
    if m is None or m.group(1) in _NINO_BAD_PREFIX:
        return None
    raw = m.group()
    return "uk_nino", m.start(), m.end(), "high", raw[:2] + _mask_alnum(raw[2:-1]) + raw[-1]


def _dni_at(text: str, start: int) -> Hit | None:
    m = _DNI.match(text, start)
    if m is None:
        return None
    number, letter = m.group(1).replace("-", ""), m.group(2)
    if not dni_valid(number, letter):
        return None
    kind = "es_nie" if number[0] in "XYZ" else "es_dni"
    return kind, m.start(), m.end(), "high", _mask_alnum(m.group()[:-1]) + letter


def _context(regex: re.Pattern[str], text: str, start: int) -> bool:
    return regex.search(text, max(0, start - _CTX_WINDOW), start) is not None


def _cluster_hits(t: Text, start: int, end: int, on: frozenset[str]) -> Iterator[Hit]:
    """Every numeric detector that can fit the digit cluster ``text[start:end]``."""
    text = t.text
    raw = text[start:end]
    n = len(raw) if raw.isdigit() else len(raw.translate(_DROP_SEPARATORS))
    hi = end + 2  # room for the trailing look-aheads
    if "iban" in on and start >= 2 and text[start - 2 : start].isalpha():
        yield from _some(_iban_at(text, start - 2))
    if "uk_nino" in on and n >= 6 and start >= 2:
        yield from _some(_nino_at(text, max(0, start - (3 if text[start - 1] == " " else 2))))
    if n in (7, 8) and ("es_dni" in on or "es_nie" in on):
        for back in (0, 1, 2):
            if start >= back and (hit := _dni_at(text, start - back)) is not None:
                yield hit
                break
    if n >= 12 and ("card" in on or "in_aadhaar" in on):
        yield from _digit_runs(text, start, hi, t.budget)
    if n >= 9 and "ssn" in on:
        yield from _ssns(text, start, hi, t.budget)
    words = t.words
    if (
        n == 9
        and raw.isdigit()
        and "ssn" in on
        and not _SSN_WORDS.isdisjoint(words)
        and _context(_SSN_CTX, text, start)
        and _ssn_valid(raw[:3], raw[3:5], raw[5:])
    ):
        yield "ssn", start, end, "high", "*****" + raw[5:]
    if (
        n == 12
        and raw.isdigit()
        and "in_aadhaar" in on
        and raw[0] not in "01"
        and not _AADHAAR_WORDS.isdisjoint(words)
        and _context(_AADHAAR_CTX, text, start)
        and verhoeff_valid(raw)
    ):
        yield "in_aadhaar", start, end, "high", "********" + raw[-4:]
    if n == 11 and "de_tax_id" in on and not _STEUER_WORDS.isdisjoint(words):
        digits = raw.replace(" ", "")
        if digits.isdigit() and _context(_STEUER_CTX, text, start) and steuer_id_valid(digits):
            yield "de_tax_id", start, end, "high", _mask_alnum(raw, keep_last=2)
    if n >= 7 and "phone" in on:
        lo = start - 1 if start and text[start - 1] in "+(" else start
        found = False
        for hit in _phones(text, lo, hi, t.budget):
            found = True
            yield hit
        if (
            not found
            and n <= 15
            and not _PHONE_WORDS.isdisjoint(words)
            and _context(_PHONE_CTX, text, lo)
            and not _PHONE_BAD_SEPS.search(raw)
        ):
            yield "phone", lo, end, "medium", _mask_alnum(text[lo:end], keep_last=2)


def _some(hit: Hit | None) -> Iterator[Hit]:
    if hit is not None:
        yield hit


def find_pii(t: Text, on: frozenset[str]) -> Iterator[Hit]:
    """PII hits for the enabled kinds ``on``; numeric ones cluster by cluster."""
    text = t.text
    if "email" in on and "@" in text:
        yield from _find_email(text)
    budget = t.budget
    for c in _CLUSTER.finditer(text):
        start, end = c.span()
        # Short clusters only matter as IBAN check digits ("GB82WEST...").
        if end - start >= 6 or (start >= 2 and text[start - 2 : start].isalpha()):
            if not budget.spend():
                return
            yield from _cluster_hits(t, start, end, on)


# ---- secrets ------------------------------------------------------------------------------

_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA",
                 "APKA", "ASCA")  # fmt: skip
_AWS_HEADS = frozenset(p.lower().encode() for p in _AWS_PREFIXES)
_AWS_KEY_ID = re.compile(r"(?<![A-Za-z0-9])A[A-Z]{3}[A-Z0-9]{16}(?![A-Za-z0-9])")
_AWS_SECRET = re.compile(  # on the lower-cased copy, like _GENERIC
    r"(?<![a-z0-9])aws[\w\-]{0,30}?(?:secret|private)[\w\-]{0,20}[\"']?\s{0,3}"
    r"(?::=|=>|[:=])\s{0,3}[\"']?([a-z0-9/+]{40})(?![a-z0-9/+=])"
)
_GITHUB = re.compile(
    r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,250})"
    r"(?![A-Za-z0-9_])"
)
_GITHUB_WORDS = frozenset({b"ghp", b"gho", b"ghu", b"ghs", b"ghr"})
_GITHUB_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")
_OPENAI = re.compile(
    r"(?<![A-Za-z0-9_\-])(sk-(?:proj-|svcacct-|admin-|None-)?)([A-Za-z0-9_\-]{20,256})"
    r"(?![A-Za-z0-9_\-])"
)
_SLACK = re.compile(r"(?<![A-Za-z0-9])(xox[abprs]-)[A-Za-z0-9\-]{10,250}(?![A-Za-z0-9\-])")
_SLACK_WORDS = frozenset({b"xoxa", b"xoxb", b"xoxp", b"xoxr", b"xoxs"})
_GOOGLE = re.compile(r"(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])")
_PEM_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]{1,12} ){0,3})PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=:, \t\r\n]{0,16384}+")
_PEM_MAX = 20_000  # longest block looked at (a 16384-bit RSA key is ~12 kB)
_JWT = re.compile(
    r"(?<![A-Za-z0-9_\-])(eyJ[A-Za-z0-9_\-]{5,2048})\.([A-Za-z0-9_\-]{2,8192})\."
    r"([A-Za-z0-9_\-]{0,2048})(?![A-Za-z0-9_\-.])"
)
# Key names, then an assignment. Matched from an anchor word (``key`` in ``api_key``); what may
# precede the word is checked in Python (in _generic_secrets).
# Runs on the lower-cased copy (no (?i): a case-insensitive alternation gets no fast prefix
# scan in ``re`` and is ~8x slower); the value is then read from the original by its span.
_GENERIC = re.compile(
    r"(pass(?:word|wd|phrase)?|pwd|secret|key|apikey|token)"
    r"(?:[_\-]?(?:key|token|secret|password|passwd|pass|phrase|access|auth|api|value)){0,2}"
    r"[\"']?\s{0,3}(?::=|=>|[:=])\s{0,3}[\"']?"
    r"([^\s\"'`,;)\]}<>]{8,256})"
)
_GENERIC_GLUE = ("api", "access", "secret", "private", "client")  # "apikey", "secretkey", ...
_GENERIC_WORDS = frozenset(
    w.encode()
    for w in "password passwd passphrase pwd pass secret key apikey token secretkey accesskey "
    "privatekey authtoken accesstoken refreshtoken clientsecret dbpassword".split()
)
_GENERIC_ANCHORS = ("pass", "pwd", "secret", "key", "token")
_PLACEHOLDER_PARTS = ("xxxx", "***", "...", "your", "example", "placeholder", "changeme",
                      "redacted", "dummy", "getenv", "environ", "process.env", "secrets.",
                      "vault:")  # fmt: skip
_PLACEHOLDER_VALUES = frozenset({"null", "none", "true", "false", "undefined", "nil"})


def _placeholder(value: str) -> bool:
    """``${VAR}``, ``<your-key>``, ``changeme``, ``os.environ[...]``, ``null``, ..."""
    low = value.lower()
    return (
        value[0] in "${<%"
        or low in _PLACEHOLDER_VALUES
        or any(part in low for part in _PLACEHOLDER_PARTS)
    )


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_.]*|[A-Za-z_][\w.]*\(.*")  # names and calls


_HAS_DIGIT = re.compile(r"[0-9]")


def _mixed(s: str, min_classes: int = 2) -> bool:
    """At least ``min_classes`` of: lower-case, upper-case, digit, other."""
    classes = (
        (s != s.upper()) + (s != s.lower()) + (_HAS_DIGIT.search(s) is not None) + (not s.isalnum())
    )
    return classes >= min_classes


def _b64url_json(segment: str) -> object:
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return None


def _private_keys(text: str) -> Iterator[Hit]:
    """PEM private-key blocks; the span runs to the END line (or the end of the body)."""
    pos = 0
    while (i := text.find("-----BEGIN ", pos)) >= 0:
        m = _PEM_BEGIN.match(text, i)
        if m is None:
            pos = i + 11
            continue
        end_at = text.find("-----END ", m.end(), m.end() + _PEM_MAX)
        tail = _PEM_END.match(text, end_at) if end_at >= 0 else None
        if tail is not None:
            end = tail.end()
        else:
            body = _PEM_BODY.match(text, m.end())
            end = body.end() if body else m.end()
        label = m.group(1).strip()
        header = f"-----BEGIN {label + ' ' if label else ''}PRIVATE KEY-----"
        yield "secret:private_key", m.start(), end, "high", header + "****"
        pos = max(end, m.end())


def _jwts(text: str) -> Iterator[Hit]:
    for m in _anchored(_JWT, text, text, ("eyJ",)):
        header = _b64url_json(m.group(1))
        if isinstance(header, dict) and ("alg" in header or "typ" in header):
            alg = header.get("alg")
            tag = f"(alg={alg})" if isinstance(alg, str) and alg.isalnum() and len(alg) < 12 else ""
            yield "secret:jwt", m.start(), m.end(), "high", f"eyJ****{tag}"


def _aws_key_ids(t: Text) -> Iterator[Hit]:
    prefixes = tuple(p for p in _AWS_PREFIXES if p.lower().encode() in t.long_heads)
    for m in _anchored(_AWS_KEY_ID, t.text, t.text, prefixes):
        raw = m.group()
        if raw[:4] in _AWS_PREFIXES and (raw[:4] == "AKIA" or any(c.isdigit() for c in raw[4:])):
            yield "secret:aws_access_key", m.start(), m.end(), "high", _mask_secret(raw[:4])


def _aws_secrets(t: Text) -> Iterator[Hit]:
    for m in _anchored(_AWS_SECRET, t.lowered, t.lowered, ("aws",)):
        value = t.text[m.start(1) : m.end(1)]
        if _mixed(value, 3) and shannon_entropy(value) >= 3.5:
            yield "secret:aws_secret_key", m.start(1), m.end(1), "high", _mask_secret("")


def _openai_keys(text: str) -> Iterator[Hit]:
    for m in _anchored(_OPENAI, text, text, ("sk-",)):
        body = m.group(2)
        letters = any(c.isalpha() for c in body)
        if letters and any(c.isdigit() for c in body) and shannon_entropy(body) >= 3.5:
            yield "secret:openai_key", m.start(), m.end(), "high", _mask_secret(m.group(1))


def _generic_secrets(t: Text) -> Iterator[Hit]:
    """``password=…`` / ``api_key: …`` assignments whose value looks random."""
    seen: set[int] = set()
    budget = t.budget
    for m in _anchored(_GENERIC, t.lowered, t.lowered, _GENERIC_ANCHORS):
        start = m.start()
        if (
            start
            and t.lowered[start - 1].isalpha()
            and not t.lowered.endswith(_GENERIC_GLUE, max(0, start - 7), start)
        ):
            continue  # "monkey=", "bypass:"; but "apikey=" is fine
        value = t.text[m.start(2) : m.end(2)]
        if not budget.spend():
            return
        if m.start(2) in seen or _IDENTIFIER.fullmatch(value) or _placeholder(value):
            continue
        seen.add(m.start(2))
        entropy = shannon_entropy(value)
        if not _mixed(value, 2) or entropy < 3.0:
            continue
        severity: Severity = "high" if entropy >= 3.5 and len(value) >= 12 else "medium"
        name_start = m.start()
        while (
            name_start > 0
            and m.start() - name_start < 24
            and (t.text[name_start - 1].isalnum() or t.text[name_start - 1] in "_-")
        ):
            name_start -= 1
        name = t.text[name_start : m.start(2)].rstrip(" \"':=>")
        yield "secret:generic", m.start(2), m.end(2), severity, f"{name}=****"


def find_secrets(t: Text, on: frozenset[str]) -> Iterator[Hit]:
    """Secret hits for the enabled kinds ``on``, most specific format first."""
    text, words, heads = t.text, t.words, t.long_heads
    if "secret:private_key" in on and b"private" in words and b"begin" in words:
        yield from _private_keys(text)
    if "secret:jwt" in on and "eyJ" in text:
        yield from _jwts(text)
    if "secret:aws_access_key" in on and not _AWS_HEADS.isdisjoint(heads):  # 20 x [A-Z0-9]
        yield from _aws_key_ids(t)
    if "secret:google_api_key" in on and "AIza" in text:
        for m in _anchored(_GOOGLE, text, text, ("AIza",)):
            yield "secret:google_api_key", m.start(), m.end(), "high", _mask_secret("AIza")
    if "secret:aws_secret_key" in on and b"aws" in words:
        yield from _aws_secrets(t)
    if "secret:github_token" in on and (not _GITHUB_WORDS.isdisjoint(words) or b"github" in words):
        for m in _anchored(_GITHUB, text, text, _GITHUB_PREFIXES):
            raw = m.group()
            prefix = "github_pat_" if raw.startswith("github_pat_") else raw[:4]
            yield "secret:github_token", m.start(), m.end(), "high", _mask_secret(prefix)
    if "secret:openai_key" in on and b"sk" in words:
        yield from _openai_keys(text)
    if "secret:slack_token" in on and not _SLACK_WORDS.isdisjoint(words):
        for m in _anchored(_SLACK, text, text, ("xox",)):
            if sum(c.isdigit() for c in m.group()) >= 6:
                yield "secret:slack_token", m.start(), m.end(), "high", _mask_secret(m.group(1))


def find_generic_secrets(t: Text, on: frozenset[str]) -> Iterator[Hit]:
    """The catch-all assignment detector (run last: specific formats win overlaps)."""
    if (
        "secret:generic" in on
        and not _GENERIC_WORDS.isdisjoint(t.words)
        and ("=" in t.text or ":" in t.text)
    ):
        yield from _generic_secrets(t)
