"""The one scrubbing function: pairs, Bearer values, URL passwords, cards, the token."""

from __future__ import annotations

import random
import string

import pytest

from incidentio_logging._scrub import MARGIN, SCRUBBED, Scrubber, secret_key_pattern

TOKEN = "inc_live_Q7x2Kp9LmN4vB8rT6yW1zA3sD5fG0hJ"
VISA = "4111 1111 1111 1111"  # the standard test card number: passes the Luhn check


@pytest.mark.parametrize(("text", "expected"), [
    ("login failed password=hunter2 for al", "login failed password=[scrubbed] for al"),
    ("api_key: abc123, retrying", "api_key: [scrubbed], retrying"),
    ("{'user': 'al', 'password': 'hunter 2'}", "{'user': 'al', 'password': '[scrubbed]'}"),
    ('{"Api-Key" : "k-1", "n": 1}', '{"Api-Key" : "[scrubbed]", "n": 1}'),
    ("GET /cb?code=1&access_token=abc&x=2", "GET /cb?code=1&access_token=[scrubbed]&x=2"),
    ("Authorization: Bearer abc.def", "Authorization: Bearer [scrubbed]"),
    ("header Authorization: Basic dXNlcjpw", "header Authorization: Basic [scrubbed]"),
    ("Cookie: sessionid=s1; csrftoken=c2", "Cookie: [scrubbed]; csrftoken=[scrubbed]"),
    ("DB_PASSWORD='it s' host=db", "DB_PASSWORD='[scrubbed]' host=db"),
    ("Headers([('Authorization', 'Basic dXNlcjpw'), ('X-Api-Key', 'k-1'), ('Accept', '*')])",
     "Headers([('Authorization', 'Basic [scrubbed]'), ('X-Api-Key', '[scrubbed]'), "
     "('Accept', '*')])"),
    ('[["x-api-key", "k-1"], ["host", "shop"]]', '[["x-api-key", "[scrubbed]"], ["host", "shop"]]'),
    ("[(b'x-auth-token', b'k-1')]", "[(b'x-auth-token', b'[scrubbed]')]"),
])
def test_secret_looking_pairs_in_text_are_scrubbed(text: str, expected: str) -> None:
    """key=value and key: value, quoted or bare, by the same key rule as extras."""
    assert Scrubber().mask(text) == expected


@pytest.mark.parametrize("text", [
    "TokenExpiredError: the session has ended",
    'File "/app/auth/session.py", line 3, in login',
    "/app/auth/session.py:42: UserWarning: slow",
    "Payment provider rejected the refund for order A-1",
    "a session expired; tokens are refreshed hourly",
])
def test_exception_names_file_names_and_prose_are_left_alone(text: str) -> None:
    """A secret word that is not a key (an exception's name, a file, a sentence) stays."""
    assert Scrubber().mask(text) == text


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "BeArEr", "bEARER"])
def test_bearer_values_are_scrubbed_in_any_case(scheme: str) -> None:
    """The old pre-check looked for 'earer' or 'EARER' only: BeArEr went through."""
    assert Scrubber().mask(f"sent {scheme} xyzxyzxyz1 upstream") == (
        f"sent {scheme} {SCRUBBED} upstream")


def test_added_scrub_keys_apply_to_text_too() -> None:
    """scrub_keys words are keys in text as they are in extras."""
    scrubber = Scrubber(secret_key_pattern(("ssn", "iban")))
    assert scrubber.mask("ssn=123-45-6789 IBAN: GB00X") == f"ssn={SCRUBBED} IBAN: {SCRUBBED}"


@pytest.mark.parametrize(("text", "expected"), [
    ("could not connect to postgres://app:s3cret@db:5432/shop: timeout",
     f"could not connect to postgres://app:{SCRUBBED}@db:5432/shop: timeout"),
    ("redis://:pa@ss@cache/0", f"redis://:{SCRUBBED}@cache/0"),
    ("amqp://guest:guest@rabbit//", f"amqp://guest:{SCRUBBED}@rabbit//"),
    ("https://api.example:8443/v1/x?y=1", "https://api.example:8443/v1/x?y=1"),
    ("see http://user@host/path", "see http://user@host/path"),
])
def test_url_passwords_are_scrubbed_and_the_rest_of_the_url_kept(text: str,
                                                                 expected: str) -> None:
    """Scheme, user, host, port and path stay visible; only the password goes."""
    assert Scrubber().mask(text) == expected


@pytest.mark.parametrize("card", [
    VISA, "4111-1111-1111-1111", "4111111111111111", "378282246310005", "5555555555554444",
    "6011 0009 9013 9424",
])
def test_luhn_valid_card_numbers_are_scrubbed(card: str) -> None:
    """13 to 19 digits, with spaces or dashes, that pass the Luhn check."""
    assert Scrubber().mask(f"GET /pay?cc={card}&amount=5") == f"GET /pay?cc={SCRUBBED}&amount=5"


@pytest.mark.parametrize("text", [
    "order 4111111111111112 failed",  # fails the Luhn check
    "took 0.4111111111111111 s",  # a float's digits
    "at 1790000000123 ms",  # an epoch in milliseconds: no card network starts with 1
    "sha 9f4111111111111111e0a",  # inside a hex id
    "2026-11-28 11:28:56.123456 +44 7700 900123",
])
def test_numbers_that_are_not_cards_are_kept(text: str) -> None:
    """Luhn-invalid numbers, floats, timestamps, ids and phone numbers stay."""
    assert Scrubber().mask(text) == text


def test_the_token_and_any_8_character_head_of_it_are_masked() -> None:
    """Whole, or cut by someone else (followed by a marker, or at the very end)."""
    scrubber = Scrubber(token=TOKEN)
    assert scrubber.mask(f"a {TOKEN} b") == f"a {SCRUBBED} b"
    assert scrubber.mask(f"cut here {TOKEN[:20]}...[cut]") == f"cut here {SCRUBBED}...[cut]"
    assert scrubber.mask(f"end {TOKEN[:8]}") == f"end {SCRUBBED}"
    assert scrubber.mask(f"short {TOKEN[:7]}") == f"short {TOKEN[:7]}"
    assert TOKEN not in repr(scrubber)


def test_a_cut_never_keeps_part_of_a_secret() -> None:
    """Mask first, then cut: wherever the cut falls, no piece of the token is kept."""
    scrubber = Scrubber(token=TOKEN)
    for size in range(60, 80):
        text = "x" * 50 + TOKEN + " password=hunter2hunter2 " + "y" * 400
        kept = scrubber.text(text, size)
        tail = scrubber.text(text[::-1].replace(TOKEN[::-1], TOKEN), size, tail=True)
        for piece in (TOKEN[i:i + 8] for i in range(len(TOKEN) - 7)):
            assert piece not in kept and piece not in tail
        assert "hunter" not in kept


def test_a_cut_keeps_no_piece_of_a_token_longer_than_the_margin() -> None:
    """The token is found by its first 8 characters. A token longer than MARGIN begun
    before the scanned window left its tail unmasked in what a tail cut kept (and would
    have, wherever the cut fell): the window is now wider by the token's length."""
    rng = random.Random(7)
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(300))
    scrubber = Scrubber(token=token)
    pieces = {token[i:i + 8] for i in range(len(token) - 7)}
    for at in range(0, 2 * len(token) + MARGIN, 3):
        text = "x" * 100 + token + "y" * at
        tail = scrubber.text(text, at + 10, "~", tail=True)
        head = scrubber.text(text[::-1].replace(token[::-1], token), at + 10, "~")
        assert not {piece for piece in pieces if piece in tail or piece in head}, at


def test_a_long_string_is_read_only_up_to_what_is_kept_plus_a_margin(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan is capped (at the margin plus the token's length), and a secret split by
    the scan's end is dropped with it."""
    read: list[int] = []
    real = Scrubber._mask

    def counting(self: Scrubber, value: str) -> str:
        read.append(len(value))
        return real(self, value)

    monkeypatch.setattr(Scrubber, "_mask", counting)
    scrubber = Scrubber(token=TOKEN)
    text = "z" * (1000 + MARGIN - 20) + TOKEN + "password=x " * 100_000
    assert scrubber.text(text, 1000, "~") == "z" * 1000 + "~"
    assert read == [1000 + MARGIN + len(TOKEN)]
    head = "z" * 1000 + " password=hunter2hunter2"
    assert "hunter" not in scrubber.text(head + "q" * 5000, 1010, "~")


@pytest.mark.parametrize("tail", [False, True])
def test_keeping_nothing_keeps_only_the_marker(tail: bool) -> None:
    """A spent budget keeps no character, from either end."""
    for text in ("q" * 100, "q" * 1000):
        assert Scrubber().text(text, 0, "~", tail=tail) == "~"


@pytest.mark.parametrize("text", [
    "choose one of 'token', 'password' or 'none'",  # a comma-separated list, no brackets
    "('status', 'passed'), ('path', '/bypass/compass')",
    "oauth_provider=google author=ada passed=3 bypass=1 compass=n",
])
def test_lists_and_words_that_only_look_secret_are_kept(text: str) -> None:
    """A repr'd pair needs its bracket; pass and auth are whole words of a key."""
    assert Scrubber().mask(text) == text
