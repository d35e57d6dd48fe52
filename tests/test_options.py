"""Every handler option is declared once, in ``_config.OPTIONS``; the places that repeat
it for their readers (the handler's signature and docstring, ``Settings``, the README's
options table, ``HandlerOptions``, ``RetryPolicy``) fail here when they drift from it."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging._config import (
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
#: What a documented default that names no value (none, off, system, see below, HTTP)
#: means: the setting is left empty.
UNSET = object()


def signature() -> dict[str, inspect.Parameter]:
    """The handler's keyword options, in the order of its signature."""
    parameters = inspect.signature(IncidentIOHandler.__init__).parameters
    options = {name: p for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert len(options) == len(parameters) - 1, "every option but self is keyword-only"
    return options


def docstring_defaults() -> dict[str, str]:
    """Each entry of the handler docstring's ``Args:`` list, by name: what follows its
    last ``Default:``."""
    doc = inspect.getdoc(IncidentIOHandler) or ""
    entries: dict[str, str] = {}
    name = ""
    for line in doc.split("\nArgs:\n", 1)[1].splitlines():
        entry = re.match(r"    (\w+): (.*)", line)
        if entry:
            name = entry[1]
            entries[name] = entry[2]
        elif line.startswith("        "):
            entries[name] += " " + line.strip()
    assert all("Default: " in text for text in entries.values()), entries
    return {name: text.rsplit("Default: ", 1)[1] for name, text in entries.items()}


def readme_defaults() -> dict[str, str]:
    """The README's options table: each row's default cell, by option."""
    section = README.read_text(encoding="utf-8").split("\n### Options\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    return {row[1]: row[2] for row in re.finditer(r"^\| `(\w+)` \| (.*?) \|", section, re.M)}


def meaning(documented: str) -> object:
    """What a documented default says: an environment variable (``$NAME``), a value
    (a literal, a level name, a URL), or :data:`UNSET`. Read from its first word."""
    word = documented.replace("`", "").split()[0].rstrip(",.")
    if word.startswith("$"):
        return ("environment", word[1:])
    if word in ("true", "false"):
        return word == "true"
    try:
        return ast.literal_eval(word)
    except (ValueError, SyntaxError):
        pass
    level = logging.getLevelName(word)
    if isinstance(level, int):
        return level
    return word if word.startswith("https://") else UNSET


def test_the_handler_takes_every_declared_option_with_its_declared_default() -> None:
    """The signature names the declared options (and transport), each defaulting to
    exactly the declared default, of the same type."""
    parameters = signature()
    assert set(parameters) == set(DECLARED) | set(HANDLER_ONLY)
    for name, parameter in parameters.items():
        declared = DECLARED[name].default if name in DECLARED else HANDLER_ONLY[name]
        assert (type(parameter.default), parameter.default) == (type(declared), declared), name


def test_settings_has_one_field_per_declared_option() -> None:
    """Each declared option fills one Settings field, and each field comes from one;
    the Settings docstring gives each its option's line."""
    fields = [field.name for field in dataclasses.fields(Settings)]
    assert sorted(option.setting for option in OPTIONS) == sorted(fields)
    for option in OPTIONS:  # help(Settings) says what each one is
        assert f"    {option.setting}: {option.doc}." in (Settings.__doc__ or "")


def test_the_docstring_and_the_readme_list_the_options_in_the_signature_s_order() -> None:
    """The handler docstring's Args and the README's options table have one entry per
    keyword of the signature, in its order."""
    names = list(signature())
    assert list(docstring_defaults()) == names
    assert list(readme_defaults()) == names


@pytest.mark.parametrize("name", [*DECLARED, *HANDLER_ONLY])
def test_the_documented_default_is_what_a_handler_gets(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The README and the docstring give an option the same default, and it is what
    parse_settings gives when the option is left out: an environment variable's value, a
    value, or nothing."""
    documented = meaning(readme_defaults()[name])
    assert meaning(docstring_defaults()[name]) == documented
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
