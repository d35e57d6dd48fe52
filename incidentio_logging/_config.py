"""Turn the handler's keyword options into validated settings.

Every option can arrive as a plain string from an INI file, a YAML or JSON config or an
environment variable, so each parser accepts the string form as well as the native one.
Errors are ``ValueError``/``TypeError`` naming the option, and never echo the token.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import logging
import math
import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import SplitResult, urlsplit

from ._events import TEMPLATE_FIELDS, TemplateFields
from .rule import Rule, compile_rule, level_number

if TYPE_CHECKING:  # transport.py imports this module
    from .transport import Transport

TOKEN_ENV = "INCIDENT_IO_API_TOKEN"  # noqa: S105 - a variable name, not a secret
SOURCE_ENV = "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID"
DEFAULT_ENDPOINT = "https://api.incident.io"
ALERT_EVENTS_PATH = "/v2/alert_events/http/"

GroupKey = Callable[[logging.LogRecord], object]
DedupMode = Literal["batch", "fingerprint"]

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_URL_ID_RE = re.compile(re.escape(ALERT_EVENTS_PATH) + r"([^/?#]+)/?$")
#: incident.io's tokens are far shorter; a longer one is something else pasted (a file, a
#: whole header dump), and every string the scrubber cuts is read the token's length more.
MAX_TOKEN_LENGTH = 1024
#: ``max_queue_bytes``: the default, and the least accepted.
MAX_QUEUE_BYTES = 32 * 1024 * 1024
MIN_QUEUE_BYTES = 1024 * 1024
#: incident.io's public API allows 1,200 requests a minute per key; one handler never needs more.
MAX_EVENTS_PER_MINUTE = 1_200
#: Records a threshold may count; held timestamps are bounded by it per group.
MAX_THRESHOLD = 10_000
#: Seconds a threshold counts over when ``threshold_window`` is not given.
DEFAULT_THRESHOLD_WINDOW = 60.0
#: The defaults of ``timeout``, ``max_retries`` and ``max_retry_time``, which are
#: :class:`~incidentio_logging._delivery.RetryPolicy`'s too.
DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_MAX_RETRY_TIME = 30.0


@dataclass(frozen=True)
class Settings:
    """Validated handler options; built by :func:`parse_settings`."""

    # Each field's meaning is its option's doc, which the end of this module adds to
    # this docstring from OPTIONS: not repeated here, where it could drift.

    api_token: str = field(repr=False)
    source_id: str
    endpoint: str
    metadata: Mapping[str, Any]
    level: int
    predicate: Callable[..., object] | None
    rule: Rule | None
    title: str | None
    description: str | None
    source_url: str | None
    group_by: Literal["fingerprint", "none"] | GroupKey
    in_app: tuple[str, ...]
    dedup: DedupMode
    flush_interval: float
    max_batch_size: int
    queue_size: int
    max_queue_bytes: int
    timeout: float
    shutdown_timeout: float
    max_retries: int
    max_retry_time: float
    ca_bundle: str | None
    max_events_per_minute: int
    scrub_keys: tuple[str, ...]
    resolve_after: float | None
    refresh_interval: float | None
    resolve_on_close: bool
    threshold: int | None
    threshold_window: float
    capture_uncaught: bool = False
    flush_on_sigterm: bool = False


@dataclass(frozen=True)
class Reading:
    """What a parser may read besides its own value, for options that depend on others."""

    #: Every option as given, its declared default where it was not.
    given: Mapping[str, Any]
    #: The settings parsed so far (the options declared before this one), by field.
    parsed: Mapping[str, Any]

    @cached_property
    def source(self) -> tuple[str, str]:
        """The alert source's id and the endpoint its webhook URL names (see
        :func:`parse_source`), read once for both options, from the option or else from
        $INCIDENT_IO_ALERT_SOURCE_CONFIG_ID. First asked for in the source's turn, so its
        errors come in validation order."""
        return parse_source(self.given["alert_source_config_id"])


#: ``(option name, value, reading) -> setting``; raises ValueError/TypeError naming it.
Parse = Callable[[str, Any, Reading], object]


@dataclass(frozen=True)
class Option:
    """One handler option, declared once: its name, default, parser and meaning.

    ``IncidentIOHandler``'s signature and docstring, :class:`Settings` and the README's
    options table repeat the names and defaults for their readers;
    tests/test_options.py fails when one of them disagrees with :data:`OPTIONS`.
    """

    name: str
    default: object
    parse: Parse
    #: What it is, word for word the handler docstring's entry for it (up to "Default:").
    doc: str
    #: The :class:`Settings` field it fills, when that is not ``name``.
    field_name: str = ""

    @property
    def setting(self) -> str:
        """The :class:`Settings` field this option fills."""
        return self.field_name or self.name


def parse_settings(**options: object) -> Settings:
    """Validate every option, filling in environment fallbacks and defaults.

    Takes the handler's keyword options (but ``transport``), any of them left out:
    such an option takes its declared default, as it does in ``IncidentIOHandler``.
    So a test gets the handler's settings without building a handler.
    """
    unknown = sorted(options.keys() - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"unknown option {unknown[0]!r}")
    given = {option.name: options.get(option.name, option.default) for option in OPTIONS}
    parsed: dict[str, Any] = {}
    reading = Reading(given, parsed)
    for option in OPTIONS:
        parsed[option.setting] = option.parse(option.name, given[option.name], reading)
    return Settings(**parsed)


def _plain(parse: Callable[[Any], object]) -> Parse:
    """A parser of the value alone, whose messages already name its option."""
    return lambda _name, value, _reading: parse(value)


def _named(parse: Callable[[str, Any], object]) -> Parse:
    """A parser of the value alone, told the option's name for its messages."""
    return lambda name, value, _reading: parse(name, value)


def _between(low: float, high: float) -> Parse:
    """A number of seconds (or other unit) within [low, high]."""
    return lambda name, value, _reading: _number(name, value, low=low, high=high)


def _whole(low: int, high: int) -> Parse:
    """A whole number within [low, high]."""
    return lambda name, value, _reading: _integer(name, value, low=low, high=high)


def _unless_off(parse: Parse) -> Parse:
    """``parse``, or None when the option is off (see :func:`_off`)."""
    return lambda name, value, reading: None if _off(value) else parse(name, value, reading)


def _source_id(_name: str, _value: str | None, reading: Reading) -> str:
    return reading.source[0]


def _endpoint_option(_name: str, value: str | None, reading: Reading) -> str:
    return parse_endpoint(value, reading.source[1])


def _predicate(name: str, value: object, _reading: Reading) -> Callable[..., object] | None:
    return _callable_option(name, value) if value else None


def _rule(_name: str, value: str | None, _reading: Reading) -> Rule | None:
    return compile_rule(value) if value is not None else None


def _level_option(_name: str, value: int | str | None, reading: Reading) -> int:
    if value is None:
        # With a predicate or a rule and no explicit level, they alone decide.
        selects = reading.parsed["predicate"] or reading.parsed["rule"]
        return logging.NOTSET if selects else logging.ERROR
    return _level(value)


def _dedup_option(_name: str, value: object, reading: Reading) -> DedupMode:
    return _dedup(value, reading.parsed["group_by"])


def _threshold_window(name: str, value: object, reading: Reading) -> float:
    if value is None:
        return DEFAULT_THRESHOLD_WINDOW
    if _off(reading.given["threshold"]):
        raise ValueError("threshold_window needs threshold: the records that must arrive "
                         "within it for a group to fire")
    return _number(name, value, low=0.001, high=86_400)


def _boolean(option: str, value: object) -> bool:
    """A bool, or its INI/YAML string form."""
    if isinstance(value, bool):
        return value
    # 0 and 1 mean what "0" and "1" mean: JSON configs give the number, INI the string.
    if type(value) is int and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise TypeError(f"{option} must be true or false (or 1 or 0), not {value!r}")


_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}


def _words(option: str, value: object) -> tuple[str, ...]:
    """A list of non-empty strings, or one comma-separated string (from INI)."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise TypeError(f"{option} must be a list of strings or a comma-separated string")
    words = []
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{option} must hold strings, not {type(item).__name__}")
        if item.strip():
            words.append(item.strip())
    return tuple(words)


def parse_connection(api_token: str | None, alert_source_config_id: str | None,
                     endpoint: str | None) -> tuple[str, str, str]:
    """Token, source id and endpoint, with the same fallbacks and checks as the handler."""
    token = parse_token(api_token)
    source_id, source_endpoint = parse_source(alert_source_config_id)
    return token, source_id, parse_endpoint(endpoint, source_endpoint)


def parse_endpoint(value: str | None, source_endpoint: str) -> str:
    """The endpoint given, or else the source's: the one its webhook URL names, or the
    default (the second of :func:`parse_source`'s results)."""
    return _endpoint(value if value is not None else source_endpoint)


def parse_token(value: str | None) -> str:
    """The token, checked as the handler checks it; None reads the environment."""
    token = value if value is not None else os.environ.get(TOKEN_ENV, "")
    if not isinstance(token, str):
        raise TypeError(f"api_token must be a string, not {type(token).__name__}")
    token = token.strip()
    if not token:
        raise ValueError(f"api_token is required: pass api_token=... or set {TOKEN_ENV}")
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(f"api_token is {len(token)} characters, more than any incident.io "
                         f"token (at most {MAX_TOKEN_LENGTH}): was something else pasted?")
    if any(c.isspace() for c in token):
        raise ValueError("api_token must not contain whitespace (was it pasted with 'Bearer '?)")
    if not (token.isascii() and token.isprintable()):
        # An HTTP header cannot carry it: every event would fail, so refuse it now.
        raise ValueError("api_token must be printable ASCII, as incident.io's tokens are "
                         "(was it copied with a smart quote or an invisible character?)")
    return token


def parse_source(value: str | None) -> tuple[str, str]:
    """The alert source config id, and the endpoint when a whole URL was given.

    None reads the environment.
    """
    raw = value if value is not None else os.environ.get(SOURCE_ENV)
    if raw is None:
        raise ValueError(
            "alert_source_config_id is required: pass the id or the webhook URL, "
            f"or set {SOURCE_ENV}"
        )
    if not isinstance(raw, str):
        raise TypeError(f"alert_source_config_id must be a string, not {type(raw).__name__}")
    raw = raw.strip()
    if "/" not in raw:
        if not _ID_RE.match(raw):
            raise ValueError(
                "alert_source_config_id must be an id of letters and digits "
                "or the webhook URL ending in /v2/alert_events/http/<id>"
            )
        return raw, DEFAULT_ENDPOINT
    # The URL may carry a ?token= query, so no part of it is ever echoed back.
    parts = urlsplit(raw)
    match = _URL_ID_RE.search(parts.path)
    if not parts.scheme or not parts.netloc or not match or not _ID_RE.match(match.group(1)):
        raise ValueError(
            "alert_source_config_id looks like a URL but not like an incident.io webhook URL "
            "(expected https://api.incident.io/v2/alert_events/http/<id>)"
        )
    _port("alert_source_config_id", parts)
    # A gateway may serve the API under a prefix: everything before /v2/... is kept.
    return match.group(1), f"{parts.scheme}://{parts.netloc}{parts.path[:match.start()]}"


def is_loopback(host: str) -> bool:
    """True for localhost and any loopback address, IPv4 or IPv6."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _endpoint(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"endpoint must be a string, not {type(value).__name__}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("endpoint must be a URL such as https://api.incident.io")
    _port("endpoint", parts)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("endpoint must not carry credentials, a query or a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            "endpoint must use https; plain http is allowed only for loopback "
            "(127.0.0.1, ::1, localhost)"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _port(option: str, parts: SplitResult) -> None:
    """Refuse a port no connection can use: it is a typo, not a transient fault."""
    try:
        usable = parts.port != 0
    except ValueError:  # past 65535, or not a number
        usable = False
    if not usable:
        raise ValueError(f"{option} has a bad port: it must be a number from 1 to 65535")


def parse_metadata(value: object) -> dict[str, Any]:
    """Accept a dict, a JSON object string, or the reference's ``key=value,key=value`` form.

    Unlike the reference, which drops a pair without ``=``, such a pair is an error here:
    a silently lost ``team`` label is worse than a clear message at start-up.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"metadata keys must be strings, not {type(key).__name__}")
            result[key] = item
        _check_json("metadata", result)
        return result
    if not isinstance(value, str):
        raise TypeError(
            f"metadata must be a dict or a string, not {type(value).__name__}"
        )
    text = value.strip()
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"metadata is not a valid JSON object: {exc.msg}") from None
        return parse_metadata(loaded)
    pairs: dict[str, Any] = {}
    for number, chunk in enumerate(text.split(","), start=1):
        if not chunk.strip():
            continue
        key, sep, item = chunk.partition("=")
        if not sep or not key.strip():
            raise ValueError(
                f"metadata pair {number} is not key=value; use key=value,key=value or a JSON object"
            )
        pairs[key.strip()] = item.strip()
    _check_json("metadata", pairs)
    return pairs


#: Configured metadata rides on every event; past this it would crowd out the records.
MAX_METADATA_BYTES = 16 * 1024


def _check_json(option: str, value: object) -> None:
    try:
        size = len(json.dumps(value, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{option} must hold only JSON values: {exc}") from None
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"{option} is {size} bytes of JSON; at most {MAX_METADATA_BYTES} "
                         "fit beside the records in every event")


def _level(value: int | str) -> int:
    if isinstance(value, bool):
        raise TypeError("level must be a level name or number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        number = level_number(value.strip())  # the rule language reads levels the same way
        if number is not None:
            return number
        raise ValueError(f"level {value!r} is not a known logging level")
    raise TypeError(f"level must be a level name or number, not {type(value).__name__}")


def _callable_option(option: str, value: object) -> Callable[..., object]:
    if isinstance(value, str):
        value = import_dotted(option, value)
    if not callable(value):
        raise TypeError(f"{option} must be callable or a dotted path 'pkg.module:function'")
    return value


def import_dotted(option: str, path: str) -> object:
    """Import ``pkg.mod:attr`` or ``pkg.mod.attr``; errors name the option."""
    module_name, sep, attr = path.strip().partition(":")
    if not sep:
        module_name, _, attr = module_name.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"{option} {path!r} is not a dotted path like 'pkg.module:function'")
    try:
        target: object = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except Exception as exc:  # noqa: BLE001 - a module failing as it runs is a config fault too
        raise ValueError(f"{option} {path!r} could not be imported: "
                         f"{type(exc).__name__}: {exc}") from None
    return target


#: What a transport must have, each callable.
_TRANSPORT_METHODS = ("post", "reset", "close")


def parse_transport(value: object) -> tuple[Transport | None, bool]:
    """The ``transport`` option: None (HTTP), an object with callable ``post``, ``reset``
    and ``close``, or a dotted path (from dictConfig) to such an object, or to a class or
    function that makes one when called with no arguments.

    Also whether the handler made it, so closes it: an instance given directly or by its
    path is its owner's (a dictConfig re-run hands the same one to the new handler)."""
    if value is None:
        return None, True
    made = False
    if isinstance(value, str):
        path, value = value, import_dotted("transport", value)
        if not _is_transport(value) and callable(value):
            try:
                value = value()
            except Exception as exc:  # noqa: BLE001 - any failure of it is a config fault
                raise ValueError(f"transport {path!r} could not be made: "
                                 f"{type(exc).__name__}: {exc}") from None
            made = True
    if not _is_transport(value):
        raise TypeError("transport must be an object with post(body, timeout), reset() and "
                        "close(), or a dotted path to one or to what makes one, not "
                        f"{type(value).__name__}")
    return cast("Transport", value), made


def _is_transport(value: object) -> bool:
    # A class has the methods too, unbound: it is what makes a transport, not one.
    return not isinstance(value, type) and all(
        callable(getattr(value, name, None)) for name in _TRANSPORT_METHODS)


def _group_by(value: object) -> Literal["fingerprint", "none"] | GroupKey:
    if value in ("fingerprint", "none"):
        return value
    if isinstance(value, str) and (":" in value or "." in value):
        return _callable_option("group_by", value)
    if callable(value):
        return value
    raise ValueError(
        f"group_by must be 'fingerprint', 'none', a callable or a dotted path, not {value!r}"
    )


_MODULE_RE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def _in_app(value: object) -> tuple[str, ...]:
    """Module prefixes, as a list or ``"shop,billing.api"``."""
    prefixes = _words("in_app", value)
    for prefix in prefixes:
        if not _MODULE_RE.fullmatch(prefix):
            raise ValueError(f"in_app entries must be module names such as 'shop' or "
                             f"'shop.views', not {prefix!r}")
    return prefixes


def _dedup(value: object, group_by: object) -> DedupMode:
    """``fingerprint`` by default; ``batch`` (the reference's key) by default and only with
    ``group_by="none"``, whose one group per window would otherwise be one alert forever."""
    if value is None:
        return "batch" if group_by == "none" else "fingerprint"
    if value == "fingerprint" and group_by == "none":
        raise ValueError("dedup='fingerprint' cannot be used with group_by='none': every "
                         "problem would share one key, and so one alert forever; use "
                         "dedup='batch', or another group_by")
    if value in ("batch", "fingerprint"):
        return value
    raise ValueError(f"dedup must be 'batch' or 'fingerprint', not {value!r}")


def _off(value: object) -> bool:
    """None, or its config-file spelling ``off``/``none`` (any case): the option is off."""
    return value is None or (isinstance(value, str)
                             and value.strip().lower() in ("off", "none"))


def _refresh_interval(value: object) -> float | None:
    """Seconds, at most a day; None (``off``, ``none``) or 0 turns folding off."""
    if _off(value):
        return None
    seconds = _number("refresh_interval", value, low=0, high=86_400)
    return seconds or None


def _template(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{option} must be a string, not {type(value).__name__}")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{option} is not a valid template: {exc}") from None
    for name in names:
        base = re.split(r"[.\[]", name, maxsplit=1)[0]
        if base not in TEMPLATE_FIELDS:
            allowed = ", ".join(sorted(TEMPLATE_FIELDS))
            raise ValueError(f"{option} uses unknown field {{{name}}}; known fields: {allowed}")
    return value


def _source_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"source_url must be a string, not {type(value).__name__}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("source_url must be an http(s) URL")
    return value.strip()


def _number(option: str, value: object, *, low: float, high: float) -> float:
    """A number within [low, high]; strings such as "0.5" (from INI or YAML) are read."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{option} must be a number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise TypeError(f"{option} must be a number, not {value!r}") from None
    except OverflowError:  # an int past a float's range, too long to echo
        raise ValueError(f"{option} must be between {low:g} and {high:g}") from None
    if math.isnan(number) or not low <= number <= high:
        raise ValueError(f"{option} must be between {low:g} and {high:g}, not {value!r}")
    return number


def _integer(option: str, value: object, *, low: int, high: int) -> int:
    number = _number(option, value, low=low, high=high)
    if not number.is_integer():
        raise TypeError(f"{option} must be a whole number, not {value!r}")
    return int(number)


def _ca_bundle(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not os.path.isfile(value):
        raise ValueError(f"ca_bundle must be the path of a CA bundle file; {value!r} is not one")
    return value


#: The template fields in :class:`TemplateFields`' order, as ``title``'s doc names them:
#: derived, so a field added to the event builder fails tests/test_options.py until the
#: handler docstring names it too.
_TEMPLATE_FIELDS_LISTED = " ".join(f"{{{name}}}" for name in TemplateFields.__annotations__)


#: Every option but ``transport`` (an object, not a setting: the handler takes it
#: itself, see :func:`parse_transport`), in the order they are validated: an option
#: another one reads comes before it, and the first bad one is the one reported.
OPTIONS: tuple[Option, ...] = (
    Option("api_token", None, _plain(parse_token), "the alert source's token"),
    Option("alert_source_config_id", None, _source_id,
           "the source's id or its whole webhook URL", field_name="source_id"),
    Option("endpoint", None, _endpoint_option, "base URL; https, or http only on loopback"),
    Option("predicate", None, _predicate,
           "``(LogRecord) -> bool`` or a dotted path to one; selects records"),
    Option("rule", None, _rule,
           "a query string such as ``\"logger:shop.* level:>=error -timeout\"``; see "
           ":mod:`incidentio_logging.rule`. With a predicate, both must match"),
    Option("group_by", "fingerprint", _plain(_group_by),
           "``\"fingerprint\"``, ``\"none\"``, or a callable/dotted path returning a key"),
    Option("metadata", None, _plain(parse_metadata),
           "a dict, a JSON object string or ``\"key=value,key=value\"``, merged into every "
           "event's ``metadata``; ``data`` is always the records"),
    Option("level", None, _level_option,
           "the handler level; NOTSET with a ``predicate`` or a ``rule`` and no level "
           "(they alone decide)"),
    Option("title", None, _named(_template),
           f"a template over ``{_TEMPLATE_FIELDS_LISTED}``"),
    Option("description", None, _named(_template), "a template over the same fields"),
    Option("source_url", None, _plain(_source_url), "a link back to where the alert came from"),
    Option("in_app", (), _plain(_in_app),
           "module prefixes (a list or ``\"shop,billing\"``) whose frames count as your "
           "application's code even when installed in site-packages; they decide where an "
           "exception was raised, for its fingerprint"),
    Option("dedup", None, _dedup_option,
           "``\"fingerprint\"`` (one alert per problem) or ``\"batch\"`` (the reference's key: "
           "every event its own alert; the default, and the only choice, with "
           "``group_by=\"none\"``)"),
    Option("flush_interval", 1.0, _between(0.001, 3600), "seconds a window stays open"),
    Option("max_batch_size", 250, _whole(1, 10_000),
           "records per event; more in a window are counted, not sent"),
    Option("queue_size", 10_000, _whole(1, 10_000_000),
           "records that may wait for the worker; more are dropped and counted"),
    # At least room for one record cut to its longest, with a traceback.
    Option("max_queue_bytes", MAX_QUEUE_BYTES, _whole(MIN_QUEUE_BYTES, 2**40),
           "the queue's estimated size limit (messages plus a fixed charge per record and "
           "per traceback); more are dropped and counted"),
    Option("timeout", DEFAULT_TIMEOUT, _between(0.001, 600), "seconds for one HTTP attempt"),
    Option("shutdown_timeout", 5.0, _between(0, 600),
           "seconds ``close()`` and a bare ``flush()`` may take"),
    Option("max_retries", DEFAULT_MAX_RETRIES, _whole(0, 100),
           "how often one event is retried"),
    Option("max_retry_time", DEFAULT_MAX_RETRY_TIME, _between(0, 86_400),
           "how many seconds one event may spend in retries"),
    Option("ca_bundle", None, _plain(_ca_bundle),
           "a CA bundle file for TLS verification (verification is always on)"),
    Option("max_events_per_minute", 60, _whole(1, MAX_EVENTS_PER_MINUTE),
           "storm control: alert events in any 60 s, resolves included. Held-back groups "
           "are folded into their next event"),
    Option("scrub_keys", (), _named(_words),
           "more key words whose values are scrubbed, on top of the built-in ones "
           "(password, secret, token, api_key, authorization, cookie, session...)"),
    Option("resolve_after", None, _unless_off(_between(0.001, 7 * 86_400)),
           "seconds of quiet after which a fired alert is resolved; None or ``\"off\"``: off"),
    Option("refresh_interval", 60.0, _plain(_refresh_interval),
           "with ``dedup=\"fingerprint\"``, a problem this process fired and has not "
           "resolved sends at most one event per this many seconds, carrying the records "
           "since the last; a flush sends them at once; None, 0 or ``\"off\"``: off"),
    Option("resolve_on_close", False, _named(_boolean),
           "resolve every fired alert still open at ``close()``, with or without "
           "``resolve_after``"),
    Option("threshold", None, _unless_off(_whole(1, MAX_THRESHOLD)),
           "fire a group only once this many records arrived within ``threshold_window`` "
           "seconds; None or ``\"off\"``: off"),
    Option("threshold_window", None, _threshold_window,
           "seconds a threshold counts over; needs ``threshold``"),
    Option("capture_uncaught", False, _named(_boolean),
           "send exceptions no code caught, on any thread, as alerts (on the ``uncaught`` "
           "logger, at CRITICAL); the previous hooks still run"),
    Option("flush_on_sigterm", False, _named(_boolean),
           "on SIGTERM, flush every live handler within ``shutdown_timeout``, then hand "
           "over to the previous SIGTERM handler or default"),
)
#: The declared options' names, in validation order.
OPTION_NAMES = tuple(option.name for option in OPTIONS)
Settings.__doc__ = "\n".join([
    f"{Settings.__doc__}\n\nAttributes:",
    *(f"    {option.setting}: {option.doc}." for option in OPTIONS),
])
