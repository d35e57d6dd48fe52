"""One scrubbing function for every string that leaves: mask first, then cut.

Titles, descriptions, messages, tracebacks, extras and the summary all go through
:meth:`Scrubber.text` (or :meth:`Scrubber.mask` when nothing is cut). It masks:

- the API token, and any run of at least :data:`TOKEN_PIECE` characters of its start (a
  cut made elsewhere, such as a capture-time cut that appends a marker, keeps a head);
- the value of a ``key=value`` or ``key: value`` pair whose key looks secret, by the same
  rule as extras' keys (``password=hunter2``, ``'api_key': 'abc'``, ``?token=...``), and
  of such a pair printed as a tuple or a list (``('Authorization', 'Basic ...')``);
- ``Bearer`` credentials, in any case;
- the password in a URL's ``user:password@`` (``postgres://app:[scrubbed]@db/shop``);
- card numbers: 13 to 19 digits, with single spaces or dashes between them, starting with
  2 to 6 as the card networks' numbers do, that pass the Luhn check.

Terminal escape sequences (colours, as structlog's ``ConsoleRenderer`` writes them even
without a terminal) are removed first: between a key and its ``=`` they would hide a pair.

Stderr reports and the connection test's verdict, the library's own words around a
quoted reply, take only the first rule: :meth:`Scrubber.mask_token`.

Masking comes before cutting, so a cut can never keep half a secret. The work is linear
and bounded: each rule is a precompiled regular expression, a clean string costs one
lowercase copy and three C-level scans, and at most the kept length plus a margin (256
characters and the token's length) is read.
"""

from __future__ import annotations

import re

SCRUBBED = "[scrubbed]"
#: The shortest piece of the token's start that is masked wherever it appears.
TOKEN_PIECE = 8

# ``auth`` and ``pass`` only as a word of a key (``basic_auth``, ``DB_PASS``), so that
# author, passed, bypass and compass stay readable.
_SECRET_WORDS = (r"passw(or)?d|secret|token|api[-_]?key|authorization|cookie|session"  # noqa: S105 - key names
                 r"|credential|private[-_]?key|pwd|passphrase|(?<![a-z])(auth|pass)(?![a-z])")
SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)

#: A cut string is scanned this far past what is kept, and the scan's last ``_EDGE``
#: characters are dropped: a secret the scan's end splits is thrown away, never half-sent.
#: The token is found by its start, so a scrubber with one drops the token's length more:
#: a token begun before the scan has no piece left in what is kept.
_EDGE = 128
MARGIN = 2 * _EDGE

# The rest of a secret-looking key, its closing quote and the separator, then the value:
# quoted (up to the closing quote or the line's end), or bare (up to a delimiter). An
# authorization scheme before the value stays readable.
_PAIR = re.compile(
    r"""(?P<rest>[\w.-]{0,40})["']?[ \t]*[:=][ \t]*"""
    r"""(?:(?P<q>["'])(?:(?:bearer|basic|digest|token)[ \t]+)?(?P<quoted>(?:(?!(?P=q))[^\n])+)"""
    r"""|(?:(?:bearer|basic|digest|token)[ \t]+)?(?P<bare>[^\s,;&'"<>()\[\]{}]+))""",
    re.IGNORECASE)
# A pair as a tuple or a list prints it, ``('Authorization', 'Basic ...')`` or
# ``["x-api-key", "..."]``: the key's closing quote, a comma, then the quoted value. Only
# after an opening bracket and quote (_LISTED_OPEN, looked for before the key).
_LISTED = re.compile(
    r"""(?P<rest>[\w.-]{0,40})["'][ \t]*,[ \t]*b?(?P<q>["'])"""
    r"""(?:(?:bearer|basic|digest|token)[ \t]+)?(?P<quoted>(?:(?!(?P=q))[^\n])+)(?P=q)""",
    re.IGNORECASE)
_LISTED_OPEN = re.compile(r"""[(\[][ \t]*b?["'][\w.-]{0,40}\Z""")
# A "key" that is really an exception's name or a file (``TokenError: ...``, ``session.py:3``).
_NOT_A_KEY = re.compile(r"(error|exception|warning|\.py)\Z", re.IGNORECASE)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
# The lookbehind comes after the first digit so that the scan can skip to candidate digits.
_CARD = re.compile(r"[2-6](?<![\w.][2-6])(?:[ -]?\d){12,18}(?!\w)")
_URL_PASSWORD = re.compile(r"://(?P<user>[^\s:/@?#]*):(?P<password>[^\s/?#]*)@")
_SEPARATORS = str.maketrans("", "", " -")
# ANSI escape sequences: CSI ("\x1b[1;31m", colours and cursor moves), OSC ("\x1b]8;;url"
# hyperlinks, up to their terminator) and the two-character ones.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# Field names, logger names, paths and levels repeat in every record: short strings are
# remembered, in a table emptied whenever it fills.
_MEMO_LENGTH = 64
_MEMO_SIZE = 1024


def strip_escapes(value: str) -> str:
    """``value`` without terminal escape sequences (callers check for ``"\\x1b"`` first)."""
    return _ESCAPE.sub("", value)


def secret_key_pattern(extra: tuple[str, ...] = ()) -> re.Pattern[str]:
    """The built-in secret-looking key words plus ``extra`` ones, matched anywhere in a key."""
    if not extra:
        return SECRET_KEY
    words = "|".join(re.escape(word) for word in extra)
    return re.compile(f"{_SECRET_WORDS}|{words}", re.IGNORECASE)


class Scrubber:
    """Masks secrets in strings; built once per handler, used for every string it sends."""

    __slots__ = ("_edge", "_head", "_hint", "_keys", "_memo", "_token", "key")

    def __init__(self, secret: re.Pattern[str] = SECRET_KEY, token: str | None = None) -> None:
        #: The key rule: a key that this finds has its value replaced, in extras and in text.
        self.key = secret
        self._token = token or ""
        self._head = self._token[:TOKEN_PIECE]
        self._edge = _EDGE + len(self._token)
        # The cheap pre-check runs on a lowercase copy without IGNORECASE, which is several
        # times faster; only a string it flags pays for the full rules. Lowering the pattern
        # is safe: its words are letters, and added ones are re.escape()d, which never
        # escapes a letter.
        self._hint = re.compile(f"(?:{secret.pattern.lower()})|bearer|://")
        self._memo: dict[str, str] = {}
        self._keys: dict[str, tuple[str, bool]] = {}

    def __repr__(self) -> str:
        return "<Scrubber>"  # never the token

    def text(self, value: str, keep: int, marker: str = "...", *, tail: bool = False) -> str:
        """``value`` with its secrets masked, then cut to ``keep`` characters plus ``marker``.

        ``tail`` keeps the end instead of the start (the marker then comes first). Only
        ``keep`` characters and a fixed margin (:data:`MARGIN` plus the token's length)
        are read, whatever the length of ``value``.
        """
        edge = self._edge
        if len(value) > keep + _EDGE + edge:
            if tail:
                clean = self.mask(value[len(value) - keep - _EDGE - edge:])[edge:]
                return marker + clean[len(clean) - keep:]
            return self.mask(value[:keep + _EDGE + edge])[:-edge][:keep] + marker
        clean = self.mask(value)
        if len(clean) <= keep:
            return clean
        return marker + clean[len(clean) - keep:] if tail else clean[:keep] + marker

    def name(self, key: str) -> tuple[str, bool]:
        """A mapping key, masked and cut, and whether its value is to be scrubbed."""
        known = self._keys.get(key)
        if known is None:
            clean = self.text(key, _MEMO_LENGTH * 4)
            known = clean, self.key.search(clean) is not None
            if len(key) <= _MEMO_LENGTH:
                if len(self._keys) >= _MEMO_SIZE:
                    self._keys.clear()
                self._keys[key] = known
        return known

    def mask(self, value: str) -> str:
        """``value`` with every secret masked and nothing cut; reads all of it."""
        if len(value) > _MEMO_LENGTH:
            return self._mask(value)
        clean = self._memo.get(value)
        if clean is None:
            clean = self._mask(value)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[value] = clean
        return clean

    def _mask(self, value: str) -> str:
        if "\x1b" in value:
            value = strip_escapes(value)
        value = self.mask_token(value)
        if self._hint.search(value.lower()) is not None:
            if "://" in value:
                value = _URL_PASSWORD.sub(rf"://\g<user>:{SCRUBBED}@", value)
            value = self._mask_pairs(value)
            value = _BEARER.sub(rf"\1{SCRUBBED}", value)
        if _CARD.search(value) is not None:
            value = _CARD.sub(_card, value)
        return value

    def mask_token(self, value: str) -> str:
        """``value`` with the token, and any run of at least :data:`TOKEN_PIECE` of its
        first characters, masked: for the library's own words, which the other rules
        would misread (``check api_token: it must be...``), around a quoted reply."""
        token, head = self._token, self._head
        if not head or head not in value:
            return value
        parts: list[str] = []
        start = 0
        found = value.find(head)
        while found != -1:
            end = found + len(head)
            stop = min(found + len(token), len(value))
            while end < stop and value[end] == token[end - found]:
                end += 1
            parts += (value[start:found], SCRUBBED)
            start = end
            found = value.find(head, start)
        parts.append(value[start:])
        return "".join(parts)

    def _mask_pairs(self, value: str) -> str:
        parts: list[str] = []
        start = pos = 0
        while (hit := self.key.search(value, pos)) is not None:
            pair = _PAIR.match(value, hit.end())
            if pair is None and _LISTED_OPEN.search(value, max(0, hit.start() - 48),
                                                    hit.start()) is not None:
                pair = _LISTED.match(value, hit.end())
            pos = hit.end()
            if pair is None or _NOT_A_KEY.search(pair["rest"]) is not None:
                continue
            group = "quoted" if pair["quoted"] is not None else "bare"
            parts += (value[start:pair.start(group)], SCRUBBED)
            start = pos = pair.end(group)
        parts.append(value[start:])
        return "".join(parts)


def _card(match: re.Match[str]) -> str:
    digits = match.group().translate(_SEPARATORS)
    return SCRUBBED if _luhn(digits) else match.group()


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
