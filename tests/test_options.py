"""Every handler option is declared once, in ``_config.OPTIONS``; the places that repeat
it for their readers (the handler's signature and docstring, ``Settings``, the README's
options table and the defaults its prose states, ``HandlerOptions``, ``RetryPolicy``)
fail here when they drift from it."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import logging
import math
import re
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler, _config
from incidentio_logging._config import (
    MIN_QUEUE_BYTES,
    OPTIONS,
    SOURCE_ENV,
    TOKEN_ENV,
    Settings,
    parse_settings,
)
from incidentio_logging._delivery import RetryPolicy
from incidentio_logging.testing import HandlerOptions

README = Path(__file__).resolve().parent.parent / "README.md"
TOKEN = "sekrit-token-value-1234567890"
SOURCE = "01GW2G3V0S59R238FAHPDS1R66"
DECLARED = {option.name: option for option in OPTIONS}
#: The one keyword that is not a setting: an object the handler takes itself.
HANDLER_ONLY = {"transport": None}
#: What a documented default that names no value means: the setting is left empty.
UNSET = object()
#: The defaults that name no value.
UNSET_WORDS = ("none", "off", "system", "see below", "HTTP")
#: The units a number of bytes may be restated in: ``33554432 (32 MiB)``.
UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
#: How the README's prose states a default outside the options table: each pattern (the
#: option, then its default) with the kind of text it reads. The name and the default
#: are within one sentence, with no other code between them.
PROSE_DEFAULTS = {
    r"`(\w+)`[^`.]*?\bdefault (\d[\d.]*|off|none|true|false)\b":
        "`threshold_window` seconds (default 60",
    r"`(\w+)`[^`.]*?\b(\w+) by default\b": "`resolve_after` (seconds; off by default",
    r'`(\w+)=("?\w+"?)` \(the default\)': '`dedup="fingerprint"` (the default)',
    r'"(\w+)": ([^,\s]+),\s+# the default\b': '"resolve_on_close": False,  # the default',
}
#: How the options table states a bound on an option's value: a sentence of its meaning
#: cell that starts "At least", "At most" or "Between ... and ...", then a quantity.
BOUND = re.compile(r"(?:^|\. )(At least|At most|Between) (.+?)(?=\. |\.?$)")
#: The units a bound may be stated in (bytes as in :data:`UNITS`, or time in seconds),
#: after a number or "a"/"an": ``1 MiB``, ``a day``.
BOUND_UNITS = {**UNITS, "s": 1, "second": 1, "seconds": 1, "minute": 60, "minutes": 60,
               "hour": 3600, "hours": 3600, "day": 86_400, "days": 86_400}


def signature() -> dict[str, inspect.Parameter]:
    """The handler's keyword options, in the order of its signature."""
    parameters = inspect.signature(IncidentIOHandler.__init__).parameters
    options = {name: p for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert len(options) == len(parameters) - 1, "every option but self is keyword-only"
    return options


#: One option as the docstring's ``Args:`` or the README's table documents it: its name,
#: its default as written, and what it says the option is.
Entry = tuple[str, str, str]


def docstring_entries() -> list[Entry]:
    """The handler docstring's ``Args:`` list, in its order: each entry's name, what
    follows its last ``Default:`` and what it says before that."""
    doc = inspect.getdoc(IncidentIOHandler) or ""
    entries: list[list[str]] = []
    for line in doc.split("\nArgs:\n", 1)[1].splitlines():
        entry = re.match(r"    (\w+): (.*)", line)
        if entry:
            entries.append([entry[1], entry[2]])
        elif line.startswith("        "):
            entries[-1][1] += " " + line.strip()
    assert all(" Default: " in text for _, text in entries), entries
    split = [(name, text.rsplit(" Default: ", 1)) for name, text in entries]
    return [(name, default, said) for name, (said, default) in split]


def readme_parts() -> tuple[str, str]:
    """The README's options section, and the rest of it: its prose."""
    text = README.read_text(encoding="utf-8")
    before, section = text.split("\n### Options\n", 1)
    section, after = section.split("\n## ", 1)
    return section, before + "\n## " + after


def readme_rows() -> list[Entry]:
    """The README's options table: each row's option, default cell and meaning cell, in
    its order."""
    rows = re.finditer(r"^\| `(\w+)` \| (.*?) \| (.*) \|$", readme_parts()[0], re.MULTILINE)
    return [(row[1], row[2], row[3]) for row in rows]


def readme_bounds() -> list[tuple[str, str, float]]:
    """Each bound the options table states (see :data:`BOUND`): its option, ``"least"``
    or ``"most"``, and the quantity, in the table's order."""
    bounds = []
    for name, _, said in readme_rows():
        for found in BOUND.finditer(said):
            if found[1] == "Between":
                low, _, high = found[2].partition(" and ")
                bounds += [(name, "least", quantity(low)), (name, "most", quantity(high))]
            else:
                bounds.append((name, found[1].removeprefix("At "), quantity(found[2])))
    return bounds


def quantity(stated: str) -> float:
    """The number a bound states: a number or "a"/"an", then perhaps a unit of
    :data:`BOUND_UNITS` (``1 MiB``, ``a day``, ``600``). Any other text is an error."""
    said = re.fullmatch(r"(an?|\d+(?:\.\d+)?)(?: (\w+))?", stated)
    assert said and (said[2] is None or said[2] in BOUND_UNITS), (
        f"cannot read the bound {stated!r}")
    number = 1.0 if said[1] in ("a", "an") else float(said[1])
    return number * BOUND_UNITS.get(said[2] or "", 1)


def prose_defaults() -> list[tuple[str, str]]:
    """Each default the README's prose states (see :data:`PROSE_DEFAULTS`): its option
    and the default, in the order of the patterns."""
    prose = " ".join(readme_parts()[1].split())
    return [(found[1], found[2]) for pattern in PROSE_DEFAULTS
            for found in re.finditer(pattern, prose)]


def defaults(entries: list[Entry]) -> dict[str, str]:
    """Each entry's default as written, by option; each option listed once."""
    names = [name for name, _, _ in entries]
    assert len(names) == len(set(names)), f"listed twice: {names}"
    return {name: default for name, default, _ in entries}


def meaning(documented: str) -> object:
    """What a documented default says, read from all of its text: an environment variable
    (``$NAME``); a value (a literal, a level name, a URL), a number of bytes perhaps
    restated in a unit (``33554432 (32 MiB)``, which must agree); or :data:`UNSET`. A value
    that is not a number may be followed by a gloss with no number in it (``none, the
    system's``). Any other text is an error."""
    text = documented.replace("`", "").removesuffix(".")
    value, glossed, gloss = text.partition(", ")
    if glossed:
        said = meaning(value)
        assert said is UNSET or str(said).startswith("https://"), documented
        assert not re.search(r"\d", gloss), f"a number in the gloss of {documented!r}"
        return said
    if value in UNSET_WORDS:
        return UNSET
    if re.fullmatch(r"\$\w+", value):
        return ("environment", value[1:])
    if value in ("true", "false", "True", "False"):
        return value.lower() == "true"
    if re.fullmatch(r"https://[\w.-]+", value):
        return value
    sized = re.fullmatch(r"(\d+) \((\d+) (\wiB)\)", value)
    if sized:
        assert int(sized[1]) == int(sized[2]) * UNITS[sized[3]], f"{documented!r} disagrees"
        return int(sized[1])
    level = logging.getLevelName(value)
    if isinstance(level, int):
        return level
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise AssertionError(f"cannot read the default {documented!r}") from None


def test_the_handler_takes_every_declared_option_with_its_declared_default() -> None:
    """The signature names the declared options (and transport), each defaulting to
    exactly the declared default, of the same type."""
    parameters = signature()
    assert set(parameters) == set(DECLARED) | set(HANDLER_ONLY)
    for name, parameter in parameters.items():
        declared = DECLARED[name].default if name in DECLARED else HANDLER_ONLY[name]
        assert (type(parameter.default), parameter.default) == (type(declared), declared), name


def test_settings_has_one_field_per_declared_option() -> None:
    """Each declared option fills one Settings field, and each field comes from one."""
    fields = [field.name for field in dataclasses.fields(Settings)]
    assert sorted(option.setting for option in OPTIONS) == sorted(fields)


def test_each_option_s_doc_is_its_docstring_entry() -> None:
    """An option's declared doc (which help(Settings) shows) is word for word what the
    handler docstring says of it before its default."""
    said = {name: " ".join(text.split()) for name, _, text in docstring_entries()}
    for option in OPTIONS:
        assert said[option.name] == f"{option.doc}.", option.name


def test_the_docstring_and_the_readme_list_the_options_in_the_signature_s_order() -> None:
    """The handler docstring's Args and the README's options table have one entry per
    keyword of the signature, in its order."""
    names = list(signature())
    assert [name for name, _, _ in docstring_entries()] == names
    assert [name for name, _, _ in readme_rows()] == names


@pytest.mark.parametrize("name", [*DECLARED, *HANDLER_ONLY])
def test_the_documented_default_is_what_a_handler_gets(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The README and the docstring give an option the same default, and it is what
    parse_settings gives when the option is left out: an environment variable's value, a
    value, or nothing."""
    documented = meaning(defaults(readme_rows())[name])
    assert meaning(defaults(docstring_entries())[name]) == documented
    if name in HANDLER_ONLY:
        assert documented is UNSET
        return
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(SOURCE_ENV, raising=False)
    required: dict[str, Any] = {"api_token": TOKEN, "alert_source_config_id": SOURCE}
    if isinstance(documented, tuple):  # ("environment", variable)
        given = required.pop(name)
        monkeypatch.setenv(documented[1], given)
        assert getattr(parse_settings(**required), DECLARED[name].setting) == given
        return
    value = getattr(parse_settings(**required), DECLARED[name].setting)
    if documented is UNSET:
        assert value in (None, (), {})
    else:
        assert (value, type(value) is bool) == (documented, type(documented) is bool)


def parse_one(name: str, value: object) -> object:
    """The setting parse_settings makes of option ``name`` given ``value`` (and the
    required options), or the ValueError it refuses it with."""
    try:
        settings = parse_settings(api_token=TOKEN, alert_source_config_id=SOURCE,
                                  **{name: value})
    except ValueError as refused:
        return refused
    return getattr(settings, DECLARED[name].setting)


def test_the_bounds_the_readme_table_states_are_the_parsers() -> None:
    """Each bound the options table states is one the option's parser keeps: the bound
    itself is accepted, and just past it (by one for a whole number, else by the least
    step a float takes) is refused, by name. Users size their configs by these."""
    bounds = readme_bounds()
    # What the table states today: a pattern that stopped finding them would check nothing.
    assert {name for name, _, _ in bounds} >= {"max_queue_bytes", "refresh_interval"}
    for name, side, bound in bounds:
        assert name in DECLARED, f"the table states a bound on {name}, which has no parser"
        exact = int(bound) if bound.is_integer() else bound
        accepted = parse_one(name, exact)
        assert accepted == bound, f"{name} does not accept {exact}, its stated bound: {accepted}"
        away = -1 if side == "least" else 1
        past = (accepted + away if isinstance(accepted, int)
                else math.nextafter(bound, away * math.inf))
        refused = parse_one(name, past)
        assert isinstance(refused, ValueError) and str(refused).startswith(f"{name} "), (
            f"{name} accepts {past!r}, past its stated bound {exact}")


@pytest.mark.parametrize(("pattern", "example"), PROSE_DEFAULTS.items())
def test_each_prose_pattern_reads_the_text_it_is_for(pattern: str, example: str) -> None:
    assert re.fullmatch(pattern, example), example


def test_the_readme_s_prose_states_the_defaults_its_table_gives() -> None:
    """A default the README repeats in its prose is the one its options table gives (which
    the tests above hold to the declarations)."""
    table = defaults(readme_rows())
    stated = prose_defaults()
    # What the prose states today: a pattern that stopped finding them would check nothing.
    assert {name for name, _ in stated} >= {"max_events_per_minute", "refresh_interval",
                                            "threshold_window", "resolve_after", "dedup",
                                            "resolve_on_close"}
    for name, default in stated:
        assert meaning(default) == meaning(table[name]), (name, default)


#: A value each option refuses alone, in the order parse_settings and then the handler
#: validate them; ``transport`` (the handler's own) last.
REFUSED: dict[str, Any] = {
    "api_token": "two words", "alert_source_config_id": "not an id!", "endpoint": "ftp://x",
    "predicate": 42, "rule": "", "group_by": "sideways", "metadata": "team",
    "level": "LOUD", "title": "{nope}", "description": "{nope}", "source_url": "ftp://x",
    "in_app": "not a module!", "dedup": "sometimes", "flush_interval": 0,
    "max_batch_size": 0, "queue_size": 0, "max_queue_bytes": 1, "timeout": 0,
    "shutdown_timeout": -1, "max_retries": -1, "max_retry_time": -1,
    "ca_bundle": "/no/such/bundle", "max_events_per_minute": 0, "scrub_keys": 42,
    "resolve_after": 0, "refresh_interval": -1, "resolve_on_close": "maybe",
    "threshold": 0, "threshold_window": 0, "capture_uncaught": "maybe",
    "flush_on_sigterm": "maybe", "transport": 42,
}


@pytest.mark.parametrize(("first", "second"), list(pairwise(REFUSED)))
def test_of_two_bad_options_the_error_names_the_one_validated_first(
    first: str, second: str
) -> None:
    """The order the options are validated in is the order errors come in, which a user
    fixing a config sees, so this round (no behaviour change) it is pinned: a reordered
    ``OPTIONS`` fails here. An option another reads must stay after it (endpoint after
    the source, level after predicate and rule, dedup after group_by, threshold_window
    after threshold)."""
    options = {"api_token": TOKEN, "alert_source_config_id": SOURCE,
               first: REFUSED[first], second: REFUSED[second]}
    with pytest.raises((ValueError, TypeError)) as refused:
        IncidentIOHandler(**options)
    assert str(refused.value).startswith(f"{first} "), str(refused.value)


def test_handler_options_holds_only_options() -> None:
    """The receiver's HandlerOptions keys are handler options."""
    keys = HandlerOptions.__required_keys__ | HandlerOptions.__optional_keys__
    assert keys <= set(DECLARED)


def test_retry_policy_defaults_are_the_options_defaults() -> None:
    """RetryPolicy() tries as hard as a handler given no retry options."""
    policy = RetryPolicy()
    assert (policy.max_retries, policy.max_time, policy.timeout) == (
        DECLARED["max_retries"].default, DECLARED["max_retry_time"].default,
        DECLARED["timeout"].default)


def test_parse_settings_gives_what_the_handler_holds() -> None:
    """Settings come without a handler, the same as a handler built with those options
    holds; an unknown option is refused by name."""
    options: dict[str, Any] = {"api_token": TOKEN, "alert_source_config_id": SOURCE,
                               "queue_size": "20", "metadata": "team=payments",
                               "threshold": 3, "refresh_interval": "off"}
    handler = IncidentIOHandler(**options)
    handler.close()
    assert parse_settings(**options) == handler.settings
    with pytest.raises(TypeError, match="unknown option 'queue_sise'"):
        parse_settings(**options, queue_sise=10)


# The checks above catch drift: each test below feeds them a README or a docstring that
# disagrees with the declarations (first found by review), and asserts they fail.


def readme_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str) -> None:
    """Point the checks at a copy of the README with ``old`` (found once) made ``new``."""
    text = README.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / "README.md"
    path.write_text(text.replace(old, new), encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "README", path)


def docstring_with(monkeypatch: pytest.MonkeyPatch, old: str, new: str) -> None:
    """Give the handler a docstring with ``old`` (found once) made ``new``."""
    doc = IncidentIOHandler.__doc__ or ""
    assert doc.count(old) == 1, old
    monkeypatch.setattr(IncidentIOHandler, "__doc__", doc.replace(old, new))


def drift_is_caught(monkeypatch: pytest.MonkeyPatch, name: str) -> bool:
    """Whether the checks of the README and the docstring fail for option ``name``."""
    try:
        test_the_docstring_and_the_readme_list_the_options_in_the_signature_s_order()
        test_the_documented_default_is_what_a_handler_gets(monkeypatch, name)
        test_each_option_s_doc_is_its_docstring_entry()
        test_the_readme_s_prose_states_the_defaults_its_table_gives()
        test_the_bounds_the_readme_table_states_are_the_parsers()
    except AssertionError:
        return True
    return False


def test_the_checks_pass_on_the_readme_and_docstring_as_they_are(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests below can fail only on the drift each one brings."""
    assert not drift_is_caught(monkeypatch, "max_queue_bytes")
    assert not drift_is_caught(monkeypatch, "timeout")


#: A README that drifts from the declarations, and the option it drifts on; by case.
README_DRIFTS = {
    # The default cell's words disagree: the bytes are right, the size a reader sees is
    # twice the real one.
    "default-in-other-words": ("max_queue_bytes", "| `max_queue_bytes` | `33554432` (32 MiB) |",
                               "| `max_queue_bytes` | `33554432` (64 MiB) |"),
    # A second `timeout` row, with a wrong default, above the right one: readers see
    # 10.0 first.
    "option-given-twice": ("timeout", "| `timeout` | `5.0` |",
                           "| `timeout` | `10.0` | seconds for one HTTP attempt |\n"
                           "| `timeout` | `5.0` |"),
    # The storm control section says the default is 30 events a minute.
    "prose-default": ("max_events_per_minute", "events (default 60; resolves count too)",
                      "events (default 30; resolves count too)"),
}
#: A handler docstring that drifts from the declarations, and the option it drifts on.
DOCSTRING_DRIFTS = {
    # help(IncidentIOHandler) says "Default: 33554432 (16 MiB)".
    "default-in-other-words": ("max_queue_bytes", "Default: 33554432 (32 MiB).",
                               "Default: 33554432 (16 MiB)."),
    # help(IncidentIOHandler) says records per event are counted and sent.
    "entry-other-than-doc": ("max_batch_size", "more in a window are counted, not sent.",
                             "more in a window are counted and sent."),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("name", "old", "new"), README_DRIFTS.values(), ids=README_DRIFTS)
def test_a_readme_that_drifts_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, old: str, new: str
) -> None:
    """The README says of ``name`` what the declarations do not."""
    readme_with(tmp_path, monkeypatch, old, new)
    assert drift_is_caught(monkeypatch, name)


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("name", "old", "new"), DOCSTRING_DRIFTS.values(),
                         ids=DOCSTRING_DRIFTS)
def test_a_docstring_that_drifts_is_caught(
    monkeypatch: pytest.MonkeyPatch, name: str, old: str, new: str
) -> None:
    """help(IncidentIOHandler) says of ``name`` what the declarations do not."""
    docstring_with(monkeypatch, old, new)
    assert drift_is_caught(monkeypatch, name)


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("name", "old", "new"), [
    ("max_queue_bytes", "`queue_bytes`. At least 1 MiB |", "`queue_bytes`. At least 4 MiB |"),
    ("refresh_interval", "every window sends. At most a day |",
     "every window sends. At most an hour |"),
], ids=["max_queue_bytes", "refresh_interval"])
def test_a_bound_the_readme_table_states_wrong_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, old: str, new: str
) -> None:
    """The README's options table states a bound the parser does not keep, and users size
    their config by it: is 4 MiB refused? A two-hour refresh?"""
    readme_with(tmp_path, monkeypatch, old, new)
    assert drift_is_caught(monkeypatch, name)


@pytest.mark.timeout(10)
def test_a_parser_bound_that_moves_from_the_readme_s_is_caught(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The declaration's parser refuses what the README's table says is accepted ("At
    least 1 MiB" for max_queue_bytes): a config of 1 MiB stops working."""
    options = tuple(
        dataclasses.replace(option, parse=_config._whole(4 * MIN_QUEUE_BYTES, 2**40))
        if option.name == "max_queue_bytes" else option
        for option in OPTIONS)
    monkeypatch.setattr(_config, "OPTIONS", options)
    with pytest.raises(ValueError, match="max_queue_bytes"):  # the drift is real
        parse_settings(api_token=TOKEN, alert_source_config_id=SOURCE,
                       max_queue_bytes=MIN_QUEUE_BYTES)
    assert drift_is_caught(monkeypatch, "max_queue_bytes")
