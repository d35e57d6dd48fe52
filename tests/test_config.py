"""Option parsing: env fallbacks, URL ids, metadata forms, and errors that name the option."""

from __future__ import annotations

import logging
import os
from collections import Counter
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging._config import (
    MAX_TOKEN_LENGTH,
    SOURCE_ENV,
    parse_connection,
    parse_metadata,
    parse_settings,
)

TOKEN = "sekrit-token-value-1234567890"
SOURCE = "01GW2G3V0S59R238FAHPDS1R66"


def build(**options: Any) -> IncidentIOHandler:
    base: dict[str, Any] = {"api_token": TOKEN, "alert_source_config_id": SOURCE}
    return IncidentIOHandler(**{**base, **options})


def test_token_and_source_fall_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no options, the token and source come from the documented env vars."""
    monkeypatch.setenv("INCIDENT_IO_API_TOKEN", TOKEN)
    monkeypatch.setenv("INCIDENT_IO_ALERT_SOURCE_CONFIG_ID", SOURCE)
    handler = IncidentIOHandler()
    assert handler.settings.api_token == TOKEN
    assert handler.settings.source_id == SOURCE
    assert handler.settings.endpoint == "https://api.incident.io"


class CountingEnviron(dict[str, str]):
    """A stand-in for ``os.environ`` that counts the reads of each variable."""

    def __init__(self, variables: dict[str, str]) -> None:
        super().__init__(variables)
        self.reads: Counter[str] = Counter()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.reads[key] += 1
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.reads[key] += 1
        return super().__getitem__(key)


@pytest.mark.parametrize("reader", ["parse_settings", "parse_connection"])
def test_the_source_s_environment_variable_is_read_once(
    monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    """The handler's settings, and the connection test's (``python -m incidentio_logging
    test``), take the source's id and its webhook URL's endpoint from one reading of the
    variable."""
    url = f"https://alerts.example.com/gateway/v2/alert_events/http/{SOURCE}"
    environ = CountingEnviron({**os.environ, SOURCE_ENV: url})
    monkeypatch.setattr(os, "environ", environ)
    if reader == "parse_settings":
        settings = parse_settings(api_token=TOKEN)
        found = (settings.source_id, settings.endpoint)
    else:
        found = parse_connection(TOKEN, None, None)[1:]
    assert found == (SOURCE, "https://alerts.example.com/gateway")
    assert environ.reads[SOURCE_ENV] == 1


@pytest.mark.parametrize("missing", ["api_token", "alert_source_config_id"])
def test_missing_credentials_raise_naming_the_option(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    """A missing token or source is a ValueError that says which one."""
    monkeypatch.delenv("INCIDENT_IO_API_TOKEN", raising=False)
    monkeypatch.delenv("INCIDENT_IO_ALERT_SOURCE_CONFIG_ID", raising=False)
    options = {"api_token": TOKEN, "alert_source_config_id": SOURCE}
    del options[missing]
    with pytest.raises(ValueError, match=missing):
        IncidentIOHandler(**options)


def test_a_webhook_url_gives_the_id() -> None:
    """The whole webhook URL, as the alert source page shows it, is accepted."""
    handler = build(alert_source_config_id=f"https://api.incident.io/v2/alert_events/http/{SOURCE}")
    assert handler.settings.source_id == SOURCE
    assert handler.settings.endpoint == "https://api.incident.io"


def test_a_loopback_webhook_url_also_sets_the_endpoint() -> None:
    """A local receiver's URL points the handler at it without a separate endpoint."""
    handler = build(alert_source_config_id=f"http://127.0.0.1:8025/v2/alert_events/http/{SOURCE}")
    assert handler.settings.endpoint == "http://127.0.0.1:8025"


@pytest.mark.parametrize("value", [
    "https://example.com/some/other/path",
    f"https://api.incident.io/v2/alert_events/http/{SOURCE}/extra",
    "not an id!",
])
def test_bad_source_ids_raise_without_echoing_the_value(value: str) -> None:
    """A malformed source is refused, and the message does not repeat what was pasted."""
    with pytest.raises(ValueError, match="alert_source_config_id") as caught:
        build(alert_source_config_id=value)
    assert value not in str(caught.value)


def test_a_url_with_a_token_query_is_never_echoed() -> None:
    """A pasted ?token= URL that is not a webhook URL must not leak into the error."""
    with pytest.raises(ValueError) as caught:
        build(alert_source_config_id=f"https://example.com/hook?token={TOKEN}")
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("endpoint", ["http://api.incident.io", "http://10.0.0.5:8080",
                                      "ftp://api.incident.io"])
def test_plain_http_is_refused_except_on_loopback(endpoint: str) -> None:
    """https is required; http only for 127.0.0.0/8, ::1 and localhost."""
    with pytest.raises(ValueError, match="endpoint"):
        build(endpoint=endpoint)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "http://127.8.0.1", "http://[::1]:9",
                                      "http://localhost:9", "https://eu.example.com/"])
def test_loopback_http_and_any_https_are_accepted(endpoint: str) -> None:
    """The allowed endpoints are kept, without a trailing slash."""
    assert build(endpoint=endpoint).settings.endpoint == endpoint.rstrip("/")


def test_metadata_forms() -> None:
    """A dict, a JSON object string and the reference's key=value list all work."""
    assert parse_metadata({"a": 1}) == {"a": 1}
    assert parse_metadata('{"team": "core", "n": 2}') == {"team": "core", "n": 2}
    assert parse_metadata(" team = core , env=prod, url=a=b ,") == {
        "team": "core", "env": "prod", "url": "a=b"}
    assert parse_metadata("") == {}


@pytest.mark.parametrize("value", ["team=core,env", "=core", '{"not": json', "[1, 2]",
                                   '{"n": NaN}', '{"blob": "' + "x" * 20_000 + '"}'])
def test_bad_metadata_raises_naming_the_option(value: str) -> None:
    """A pair without '=', an empty key or broken JSON is a clear error."""
    with pytest.raises((ValueError, TypeError), match="metadata"):
        build(metadata=value)


def test_level_defaults_to_error_and_accepts_names() -> None:
    """ERROR by default; names and numbers (as strings from INI files) work."""
    assert build().level == logging.ERROR
    assert build(level="warning").level == logging.WARNING
    assert build(level="25").level == 25
    with pytest.raises(ValueError, match="level"):
        build(level="LOUD")


def is_payment(record: logging.LogRecord) -> bool:
    """A predicate for the dotted-path tests."""
    return record.name.startswith("shop.payments")


def test_a_predicate_alone_decides_when_no_level_is_given() -> None:
    """With a predicate and no level, the handler level is NOTSET."""
    handler = build(predicate=is_payment)
    assert handler.level == logging.NOTSET
    assert build(predicate=is_payment, level="ERROR").level == logging.ERROR


def test_predicate_and_group_by_take_dotted_paths() -> None:
    """'pkg.mod:func' and 'pkg.mod.func' both import the function."""
    assert build(predicate="tests.test_config:is_payment").settings.predicate is is_payment
    assert build(group_by="tests.test_config.is_payment").settings.group_by is is_payment
    with pytest.raises(ValueError, match="predicate"):
        build(predicate="tests.test_config:nothing_here")


@pytest.mark.parametrize(("option", "value"), [
    ("group_by", "logger"), ("dedup", "minute"), ("flush_interval", 0),
    ("flush_interval", "soon"), ("max_batch_size", 0), ("queue_size", 2.5),
    ("timeout", -1), ("shutdown_timeout", True), ("title", "{nope}"),
    ("description", "{message"), ("source_url", "javascript:alert(1)"),
    ("ca_bundle", "/no/such/bundle.pem"), ("max_retries", -1),
])
def test_bad_options_raise_naming_the_option(option: str, value: object) -> None:
    """Every validated option names itself in its error, and never shows the token."""
    with pytest.raises((ValueError, TypeError), match=option) as caught:
        build(**{option: value})
    assert TOKEN not in str(caught.value)


def test_numbers_may_be_strings_as_in_ini_files() -> None:
    """'0.5' and '100' are read as numbers."""
    settings = build(flush_interval="0.5", queue_size="100", timeout="2").settings
    assert (settings.flush_interval, settings.queue_size, settings.timeout) == (0.5, 100, 2.0)


def test_the_token_is_not_in_any_repr() -> None:
    """repr of the handler, its settings and its transport leave the token out."""
    handler = build()
    for text in (repr(handler), repr(handler.settings), repr(handler._transport)):
        assert TOKEN not in text
    assert SOURCE in repr(handler)


@pytest.mark.parametrize("token", ["tok-\u2603-0123456789", "tok-é-0123456789", "tok-\x07-01234"])
def test_a_token_that_cannot_be_a_header_is_refused_without_echoing_it(token: str) -> None:
    """Outside printable ASCII the header cannot carry it (every event would fail)."""
    with pytest.raises(ValueError, match="api_token") as caught:
        build(api_token=token)
    assert token not in str(caught.value)


def test_a_token_longer_than_any_real_one_is_refused_without_echoing_it() -> None:
    """A token is read again past every cut the scrubber makes: one of 100 KiB (a file
    pasted by mistake) would cost that on every string. MAX_TOKEN_LENGTH is accepted."""
    build(api_token="t" * MAX_TOKEN_LENGTH)
    token = "tok_" + "k" * MAX_TOKEN_LENGTH
    with pytest.raises(ValueError, match="api_token") as caught:
        build(api_token=token)
    assert "k" * 8 not in str(caught.value)


@pytest.mark.parametrize("options", [
    {"endpoint": "https://api.incident.io:99999"},
    {"endpoint": "https://api.incident.io:0"},
    {"endpoint": "https://api.incident.io:https"},
    {"alert_source_config_id": f"https://gw.example:99999/v2/alert_events/http/{SOURCE}"},
])
def test_a_port_out_of_range_is_refused_naming_the_option(options: dict[str, str]) -> None:
    """Port 99999 can never connect: a configuration fault, not a transient one."""
    option = next(iter(options))
    with pytest.raises(ValueError, match=f"{option}.*port"):
        build(**options)


def test_a_webhook_url_keeps_its_path_prefix() -> None:
    """Behind a gateway the URL has a prefix before /v2/...; it is part of the endpoint."""
    handler = build(
        alert_source_config_id=f"https://gw.example/incidentio/v2/alert_events/http/{SOURCE}")
    assert handler.settings.source_id == SOURCE
    assert handler.settings.endpoint == "https://gw.example/incidentio"
    assert handler._transport.url == (  # type: ignore[attr-defined]
        f"https://gw.example/incidentio/v2/alert_events/http/{SOURCE}")


def test_an_explicit_endpoint_replaces_the_urls_scheme_host_and_prefix() -> None:
    handler = build(
        alert_source_config_id=f"https://gw.example/incidentio/v2/alert_events/http/{SOURCE}",
        endpoint="http://127.0.0.1:8025/relay")
    assert handler.settings.source_id == SOURCE
    assert handler.settings.endpoint == "http://127.0.0.1:8025/relay"


def test_the_path_prefix_reaches_the_receiver(make_handler: Any, receiver: Any,
                                              logger: logging.Logger) -> None:
    """Real HTTP: the request goes to the prefixed path (the receiver, serving no
    prefix, answers 404; what matters is the path that arrived)."""
    url = f"{receiver.endpoint}/gateway/incidentio/v2/alert_events/http/{receiver.source_id}"
    handler = make_handler(alert_source_config_id=url, endpoint=None, max_retries=0)
    logger.addHandler(handler)
    logger.error("payment failed")
    handler.flush(5)
    (attempt,) = receiver.attempts
    assert attempt.path == f"/gateway/incidentio/v2/alert_events/http/{receiver.source_id}"


@pytest.mark.parametrize("option", ["max_batch_size", "queue_size", "flush_interval",
                                    "max_retries", "threshold"])
def test_a_huge_number_is_a_value_error_naming_the_option(option: str) -> None:
    """10**400 overflows a float: still the promised ValueError, naming the option."""
    with pytest.raises(ValueError, match=option):
        build(**{option: 10**400})


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), (1, True), (0, False), ("1", True), ("0", False),
    ("yes", True), ("off", False)])
def test_resolve_on_close_takes_bools_and_their_01_forms_alike(value: object,
                                                               expected: bool) -> None:
    """1 and "1" mean the same (JSON and INI configs); both are accepted."""
    assert build(resolve_after=60, resolve_on_close=value).settings.resolve_on_close is expected


@pytest.mark.parametrize("value", [2, -1, 1.0, "2", None])
def test_resolve_on_close_refuses_other_values(value: object) -> None:
    with pytest.raises(TypeError, match="resolve_on_close"):
        build(resolve_on_close=value)


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "loud"])
def test_a_level_that_is_not_a_name_or_ascii_number_names_the_option(value: str) -> None:
    """'²' passed str.isdigit() and then int() failed with a message naming nothing."""
    with pytest.raises(ValueError, match=r"^level "):
        build(level=value)


@pytest.mark.parametrize(("value", "error"), [
    ("shop-web", ValueError), (["shop", "1x"], ValueError), ("shop.", ValueError),
    (42, TypeError), ([b"shop"], TypeError)])
def test_in_app_takes_module_names_only(value: Any, error: type[Exception]) -> None:
    """in_app entries are module prefixes; anything else is refused, naming the option."""
    with pytest.raises(error, match="in_app"):
        build(in_app=value)
    assert build(in_app=" shop , billing.api ").settings.in_app == ("shop", "billing.api")
    assert build().settings.in_app == ()


def test_dedup_defaults_to_fingerprint_and_batch_under_group_by_none() -> None:
    """One alert per problem by default; group_by='none' keeps the reference's batch key."""
    assert build().settings.dedup == "fingerprint"
    assert build(group_by=is_payment).settings.dedup == "fingerprint"
    assert build(group_by="none").settings.dedup == "batch"
    assert build(dedup="batch").settings.dedup == "batch"


def test_group_by_none_refuses_fingerprint_dedup_naming_both_options() -> None:
    """One key for every problem would be one alert forever: refused at construction."""
    with pytest.raises(ValueError, match="dedup") as caught:
        build(group_by="none", dedup="fingerprint")
    assert "group_by" in str(caught.value)


class NullTransport:
    """A transport for the dotted-path tests: answers nothing, sends nothing."""

    def __init__(self) -> None:
        self.closed = False

    def post(self, body: bytes, timeout: float) -> Any:
        raise AssertionError("not sent in these tests")

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


#: A ready transport, for ``"tests.test_config:NULL_TRANSPORT"``.
NULL_TRANSPORT = NullTransport()


def make_transport() -> NullTransport:
    """A zero-argument factory, for ``"tests.test_config:make_transport"``."""
    return NullTransport()


def needs_an_argument(url: str) -> NullTransport:
    """A factory that cannot be called with no arguments."""
    return NullTransport()


class HalfTransport:
    """Has post but no reset or close."""

    def post(self, body: bytes, timeout: float) -> Any:
        raise AssertionError("not sent")


@pytest.mark.parametrize("value", [
    "myapp.alerts:transport", "tests.test_config:TOKEN", HalfTransport(), NullTransport,
    object(), "tests.test_config:needs_an_argument", "tests.test_config:HalfTransport"])
def test_a_transport_that_is_not_one_is_refused_at_construction(value: object) -> None:
    """README, Options: a transport has callable post, reset and close. A string that is
    not a dotted path to one (a dictConfig typo), a class instead of an instance, or an
    object missing a method is refused naming the option, not lost at run time as
    internal_error. (Review r2docs.)"""
    with pytest.raises((TypeError, ValueError), match="transport") as caught:
        build(transport=value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("path", ["tests.test_config:NULL_TRANSPORT",
                                  "tests.test_config.NULL_TRANSPORT"])
def test_a_transport_may_be_a_dotted_path_to_an_instance(path: str) -> None:
    """As dictConfig gives it: a dotted path to a ready transport is used as it is."""
    assert build(transport=path)._transport is NULL_TRANSPORT


@pytest.mark.parametrize("path", ["tests.test_config:make_transport",
                                  "tests.test_config:NullTransport"])
def test_a_transport_may_be_a_dotted_path_to_what_makes_one(path: str) -> None:
    """A dotted path to a class or zero-argument function: it is called once, at
    construction, and what it returns is the transport."""
    transport = build(transport=path)._transport
    assert type(transport) is NullTransport and transport is not NULL_TRANSPORT


def test_a_refused_transport_leaves_no_half_built_handler_for_logging() -> None:
    """A transport refused at construction is checked before logging lists the handler:
    logging.shutdown() (and a dictConfig) flushes every handler still alive in its list,
    and a half-built one raised AttributeError there. (Review r3a.)"""
    with pytest.raises(TypeError) as caught:  # its traceback keeps the handler alive
        build(transport=object())
    listed = [ref() for ref in logging._handlerList]  # type: ignore[attr-defined]
    assert not [h for h in listed if isinstance(h, IncidentIOHandler)
                and not hasattr(h, "_pid")], caught


def test_close_closes_only_a_transport_the_handler_made() -> None:
    """README, Options: close() closes a transport the handler made (by calling the
    factory a path names); one given as an instance, directly or by path, is its
    owner's: a dictConfig re-run hands the same instance to the new handler.
    (Review r3a.)"""
    made = build(transport="tests.test_config:make_transport")
    made.close()
    assert made._transport.closed  # type: ignore[attr-defined]
    NULL_TRANSPORT.closed = False
    build(transport="tests.test_config:NULL_TRANSPORT").close()
    mine = NullTransport()
    build(transport=mine).close()
    assert not NULL_TRANSPORT.closed and not mine.closed


@pytest.mark.parametrize(("module", "source"), [
    ("settings_not_ready", "raise RuntimeError('settings are not configured')\n"),
    ("settings_typo", "def broken(:\n")])
def test_a_module_failing_as_it_is_imported_is_a_config_fault(
        module: str, source: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any failure importing a dotted path's module (not only ImportError) is refused
    at construction as ValueError naming the option. (Review r3a.)"""
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=f"transport '{module}:T' could not be imported"):
        build(transport=f"{module}:T")


@pytest.mark.parametrize("off", ["off", "OFF", " None ", "none", None])
def test_off_is_accepted_where_the_readme_shows_it(off: object) -> None:
    """README: refresh_interval None (or 0), resolve_after and threshold "off": an INI or
    YAML config can only spell None as a word, so "off" and "none" (any case) mean off.
    (Review r2docs: they were refused.)"""
    settings = build(refresh_interval=off, resolve_after=off, threshold=off).settings
    assert (settings.refresh_interval, settings.resolve_after, settings.threshold) == (
        None, None, None)


def test_threshold_window_still_needs_a_threshold_that_is_on() -> None:
    with pytest.raises(ValueError, match="threshold_window needs threshold"):
        build(threshold="off", threshold_window=30)


@pytest.mark.parametrize("option", ["refresh_interval", "resolve_after", "threshold"])
def test_other_words_are_still_refused_naming_the_option(option: str) -> None:
    with pytest.raises(TypeError, match=option):
        build(**{option: "never"})
