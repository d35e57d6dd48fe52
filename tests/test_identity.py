"""Which records are the same problem: masking, exceptions, and the key on the wire."""

from __future__ import annotations

import builtins
import functools
import importlib.util
import json
import logging
import logging.handlers
import os
import pathlib
import queue
import re
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from incidentio_logging import fingerprint
from incidentio_logging._grouping import Window, key_function
from incidentio_logging._identity import MAX_SCANNED, Fingerprinter, mask
from incidentio_logging._record import capture
from incidentio_logging._structured import plain
from incidentio_logging.testing import LocalReceiver

from .conftest import Kept, MakeHandler, exc_info_of

HERE = os.path.dirname(os.path.abspath(__file__))


def record(msg: object, *args: object, name: str = "shop.payments", level: int = logging.ERROR,
           exc_info: Any = None) -> logging.LogRecord:
    return logging.getLogger(name).makeRecord(name, level, "f.py", 1, msg, args, exc_info)


def key(rec: logging.LogRecord, in_app: tuple[str, ...] = ()) -> tuple[str, ...]:
    return Fingerprinter(in_app)(plain(rec))




# Masking --------------------------------------------------------------------------------

MASKED = [
    ("numbers with units", ["Request took 200ms", "Request took 1.5s", "Request took 12 s"],
     "Request took <*>"),
    ("counts", ["Gave up after 3 attempts", "Gave up after 12 attempts"],
     "Gave up after <*> attempts"),
    ("order ids", ["Card declined for order A-1001", "Card declined for order ZX-7"],
     "Card declined for order <*>"),
    ("signed numbers and percentages", ["balance -5 at 50%", "balance +120.5 at 7%"],
     "balance <*> at <*>%"),
    ("hex ids", ["object at 0x7f3a2b1c", "object at 0x10ff"], "object at <*>"),
    ("digests", ["digest e3b0c44298fc1c149afbf4c8996fb924 mismatch",
                 "digest 9f86d081884c7d659a2feaa0c55ad015 mismatch"], "digest <*> mismatch"),
    ("UUIDs", ["job 123e4567-e89b-12d3-a456-426614174000 stuck",
               "job 6f1c2d3e-8a9b-4c5d-9e0f-123456789abc stuck"], "job <*> stuck"),
    ("IPv4 and ports", ["cannot connect to 10.0.0.12:5432", "cannot connect to 192.168.1.7"],
     "cannot connect to <*>"),
    ("IPv6", ["listening on [::1]:8080", "listening on 2001:db8::ff00:42:8329",
              "listening on fe80::1%eth0"], "listening on <*>"),
    ("host names", ["cannot reach api.stripe.com", "cannot reach db-7.prod.internal:5432",
                    "cannot reach localhost:8000"], "cannot reach <*>"),
    ("URLs with variable paths and queries",
     ["GET https://api.example.com/v1/orders/123?expand=items failed",
      "GET http://10.1.2.3:8080/health failed", "GET https://x.io/a/b/c?token=t1&u=2 failed"],
     "GET <*> failed"),
    ("URL paths", ["no route for /api/orders/42", "no route for /users/alice/settings"],
     "no route for <*>"),
    ("file paths", ["cannot open /var/lib/app/report-8841.pdf", "cannot open ./out/x.json",
                    "cannot open ~/config.yaml", "cannot open logs/app.log",
                    r"cannot open C:\Users\bob\file.txt"], "cannot open <*>"),
    ("file and module names", ["error in config.yaml", "error in shop.tasks.send_email",
                               "error in __init__.py"], "error in <*>"),
    ("e-mail addresses", ["bounced: alice@example.com", "bounced: bob.smith+tag@mail.co.uk"],
     "bounced: <*>"),
    ("ISO timestamps", ["expired at 2024-01-02T12:30:45.123Z",
                        "expired at 2025-11-30 08:00:01,999", "expired at 2026-03-04"],
     "expired at <*>"),
    ("dates with month names", ["expired at Mon, 02 Jan 2006 15:04:05 GMT",
                                "expired at Tue, 13 Feb 2024 23:59:00 GMT"],
     "expired at <*> GMT"),
    ("ctime and log dates", ["seen Mon Jan  2 15:04:05 2006", "seen Sat Mar 30 01:02:03 2024",
                             "seen 02/Jan/2024:10:00:00 +0000", "seen May 5"], "seen <*>"),
    ("single-quoted values", ["unknown setting 'timeout'", "unknown setting 'retry backoff'"],
     "unknown setting <*>"),
    ("double-quoted values", ['column "email" is null', 'column "" is null'],
     'column <*> is null'),
    ("reprs of strings, whichever quotes they chose", ["retry failed: 'timed out'",
                                                      "retry failed: \"can't connect\""],
     "retry failed: <*>"),
    ("object reprs, whole, of any shape",
     ["closing <shop.db.Pool object at 0x7f3a2b1c>", "closing <Pool: orders#12>",
      "closing <Pool db@api-3.example.com:5432>", "closing <Pool default>"], "closing <*>"),
    ("values in leading labels", ["worker-3: Error: refund failed: card expired",
                                  "worker-12: Error: refund failed: timed out"],
     "<*>: Error: refund failed: <*>"),
    ("values of key=value pairs", ["retry mode=fast pool=default", "retry mode=slow pool=a-2"],
     "retry mode=<*> pool=<*>"),
    ("the arguments of a call", ["readv(add, 4096) failed", "readv(mul) failed"],
     "readv(<*>) failed"),
    ("names of code", ["task send_email failed", "task _cleanup failed",
                       "task GEOS_NOTICE failed", "task std::io failed"], "task <*> failed"),
    ("lists, tuples, sets and dicts, whole",
     ["fields ['a', 'b', 'c'] missing", "fields ['email'] missing", "fields [] missing",
      "fields [[1, 2], [3]] missing", "fields {'a': 1, 'b': [2]} missing",
      "fields ('a', 2) missing", "fields {'email'} missing"], "fields <*> missing"),
    ("addresses, whichever shape", ["connection from ('10.0.0.1', 5432) lost",
                                    "connection from 10.0.0.1:5432 lost"],
     "connection from <*> lost"),
    ("values joined by a colon", ["forwarded from ('10.0.0.1', 5432):22 lost",
                                  "forwarded from 10.0.0.1:5432:22 lost"],
     "forwarded from <*> lost"),
    ("the detail after a message and a colon, to the end",
     ["Refund failed: card expired", "Refund failed: [Errno 111] Connection refused",
      "Refund failed: 'NoneType' object has no attribute 'id', retrying"],
     "Refund failed: <*>"),
    ("the detail after a leading label's message",
     ["Error: refund failed: card expired", "Error: refund failed: timed out"],
     "Error: refund failed: <*>"),
    ("runs of numbers", ["ids 1, 2, 3 failed", "ids 4 failed"], "ids <*> failed"),
]


@pytest.mark.parametrize(("kind", "messages", "template"), MASKED, ids=[m[0] for m in MASKED])
def test_each_kind_of_value_is_masked(kind: str, messages: list[str], template: str) -> None:
    """Messages that differ only in a value of this kind mask to one template."""
    assert [mask(m) for m in messages] == [template] * len(messages)


WORDS = [
    "Payment provider rejected the refund",
    "Payment provider rejected the capture",
    "can't find the user's file, retrying",
    "read/write error and/or N/A",
    "May we retry? It may fail",
    "re-try the pre-authorization",
    "session.commit() failed in Reporter.starting()",
    "retry if a < b > c",
    "retrying (see the logs first)",
    "on_commit() failed during the transaction",
    "card_declined",
    "user.login",
    "Error: Payment provider rejected the refund",
    "Warning: Payment provider rejected the capture",
    "Error: Warning: Payment provider rejected the refund",
]


def test_words_stay_words() -> None:
    """Text without a value is its own template, so different words are different alerts;
    a call written into the text is code, not a value."""
    assert [mask(m) for m in WORDS] == WORDS
    assert key(record(WORDS[0])) != key(record(WORDS[1]))


def test_only_the_first_characters_are_scanned() -> None:
    """What lies past MAX_SCANNED takes no part: the work per message is bounded."""
    head = "x " * (MAX_SCANNED // 2)
    assert mask(head + "refund") == mask(head + "capture") == mask(head)
    assert len(mask("y" * 100_000)) == MAX_SCANNED


@pytest.mark.timeout(20)
@pytest.mark.parametrize("unit", ["a/", "a.", "1.", "'", ":", "a:", "a-", "a\\", "[", "-", "!",
                                  "a", " ", '"a', "Jan 1 ", "1:", "~", "a/b.c-d:e@f+g",
                                  "a: ", "x y: ", "('a', ", "(1, ", "[[a]", "{a", "<a", "a_b "])
def test_hostile_text_is_masked_without_blowing_up(unit: str) -> None:
    """Long runs of the characters the patterns look for end; only the scan limit is read."""
    text = unit * (2 * MAX_SCANNED // len(unit))
    for _ in range(20):
        assert mask(text) == mask(text[:MAX_SCANNED])


# What a record without an exception is identified by ------------------------------------

def test_f_strings_group_on_their_masked_message() -> None:
    """Four orders logged with an f-string are one problem; a %-template is kept exact."""
    keys = {key(record(f"Card declined for order {order}")) for order in ("A-1", "B-22", "C-3",
                                                                          "D-4")}
    assert keys == {("message", "shop.payments", "ERROR", "Card declined for order <*>")}


def test_percent_style_records_keep_their_exact_template() -> None:
    """With args, the template is the key as written: its own digits are not masked."""
    assert key(record("disk %s is 90%% full", "sda")) == (
        "message", "shop.payments", "ERROR", "disk %s is 90%% full")
    assert key(record("retry 1 of %s", 3)) != key(record("retry 2 of %s", 3))
    assert key(record("order %s failed", "A-1")) == key(record("order %s failed", "B-2"))


def test_a_structlog_dict_groups_on_its_event() -> None:
    """structlog through the stdlib hands over a dict: its event is the template."""
    declined = [{"event": "card_declined", "order": order, "password": "hunter2"}
                for order in ("A-1", "B-2")]
    keys = {key(record(event)) for event in declined}
    assert keys == {("message", "shop.payments", "ERROR", "card_declined")}
    assert key(record({"event": "disk_full"})) != key(record(declined[0]))
    assert key(record({"event": "retry 3 of 5"})) == key(record({"event": "retry 4 of 9"}))


RENDERED = [  # what structlog's KeyValueRenderer and JSONRenderer hand to the stdlib
    ("order='A-1' event='card_declined' timestamp='2026-01-02T03:04:05Z'",
     "order='B-2' event='card_declined' timestamp='2026-05-06T07:08:09Z'",
     "order='A-1' event='disk_full' timestamp='2026-01-02T03:04:05Z'"),
    ('{"order": "A-1", "event": "card_declined", "level": "error"}',
     '{"order": "B-2", "event": "card_declined", "level": "error"}',
     '{"order": "A-1", "event": "disk_full", "level": "error"}'),
    ("event=card_declined order=A-1 mode=fast", "event=card_declined order=B-2 mode=slow",
     "event=disk_full order=A-1 mode=fast"),  # logfmt
    ('{"order":"A-1","event":"card_declined"}', '{"order":"B-2","event":"card_declined"}',
     '{"order":"A-1","event":"disk_full"}'),
]


@pytest.mark.parametrize(("first", "same", "other"), RENDERED)
def test_a_rendered_structlog_line_keeps_its_event(first: str, same: str, other: str) -> None:
    """A string renderer last: the values are masked, the event is the template."""
    assert mask(first) == mask(same) != mask(other)
    assert "card_declined" in mask(first)


def test_real_structlog_renderers_keep_their_event() -> None:
    """The same, with the renderers themselves."""
    processors = pytest.importorskip("structlog.processors")
    for renderer in (processors.KeyValueRenderer(), processors.JSONRenderer()):
        def render(event: str, order: str, renderer: Any = renderer) -> str:
            return str(renderer(None, "error", {"event": event, "order": order}))

        assert mask(render("card_declined", "A-1")) == mask(render("card_declined", "B-2"))
        assert mask(render("card_declined", "A-1")) != mask(render("disk_full", "A-1"))


def test_other_objects_group_on_their_type_and_masked_text() -> None:
    """log.error(exc) or a dict without event never makes one group per value."""
    assert key(record(KeyError("sku-1"))) == key(record(KeyError("sku-22")))
    assert key(record(KeyError("sku-1")))[3] == "KeyError: <*>"
    assert key(record(KeyError("sku-1"))) != key(record(ValueError("sku-1")))
    assert key(record(object())) == key(record(object()))
    assert key(record({"order": 1})) == key(record({"order": 2}))


def test_logger_and_level_take_part() -> None:
    """The same text from another logger or at another level is another problem."""
    assert key(record("boom")) != key(record("boom", name="shop.refunds"))
    assert key(record("boom")) != key(record("boom", level=logging.CRITICAL))


def test_exc_info_true_without_an_exception_groups_on_the_message() -> None:
    """exc_info=True outside an except block records no exception: the message decides."""
    assert key(record("no error here", exc_info=(None, None, None)))[0] == "message"


# Exceptions -----------------------------------------------------------------------------

CHECKOUT_V1 = '''\
"""Checkout, version 1."""


def charge(order):
    return {}[order]


def checkout(order):
    return charge(order)
'''

# The same code after a deploy that only moved it: a docstring, comments, functions swapped.
CHECKOUT_V2 = '''\
"""Checkout, version 2.

The same code, moved about.
"""
import logging
import logging.handlers

log = logging.getLogger(__name__)


def checkout(order):
    # Charge first, then everything else.
    return charge(order)


# Looked up in an empty table, as before.
def charge(order):
    return {}[order]
'''

# A real change: the lookup now fails in another function.
CHECKOUT_V3 = '''\
def price(order):
    return {}[order]


def charge(order):
    return price(order)


def checkout(order):
    return charge(order)
'''


def load(path: Path, source: str, name: str = "identity_checkout") -> ModuleType:
    """Import ``source`` as the module ``name``, as each deploy would."""
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def failure(module: ModuleType, order: str, message: str = "checkout failed") -> logging.LogRecord:
    try:
        module.checkout(order)
    except KeyError:
        return record(message, exc_info=sys.exc_info())
    raise AssertionError("checkout did not fail")


def innermost_line(rec: logging.LogRecord) -> int:
    tb = rec.exc_info[2] if rec.exc_info else None
    assert tb is not None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_lineno


def test_a_deploy_that_only_moves_lines_keeps_the_key(tmp_path: Path) -> None:
    """Module and function, never the line: the same bug after a deploy is the same alert."""
    before = failure(load(tmp_path / "v1.py", CHECKOUT_V1), "A-1")
    after = failure(load(tmp_path / "v2.py", CHECKOUT_V2), "B-2", "checkout of B-2 failed")
    assert innermost_line(before) != innermost_line(after)
    assert fingerprint(before) == fingerprint(after)
    assert key(before) == ("exception", "shop.payments", "ERROR", "builtins.KeyError",
                           "identity_checkout:charge")
    changed = failure(load(tmp_path / "v3.py", CHECKOUT_V3), "A-1")
    assert fingerprint(changed) != fingerprint(before)


def test_a_deploy_that_moves_lines_keeps_the_key_across_processes(tmp_path: Path) -> None:
    """Each version imported fresh in its own process gives the same key."""
    def key_in_subprocess(source: str) -> str:
        (tmp_path / "identity_checkout.py").write_text(source)
        script = textwrap.dedent("""
            import logging, sys
            import identity_checkout
            from incidentio_logging import fingerprint
            try:
                identity_checkout.checkout("A-1")
            except KeyError:
                record = logging.getLogger("shop").makeRecord(
                    "shop", logging.ERROR, "f.py", 1, "failed", (), sys.exc_info())
                print(fingerprint(record))
        """)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
               "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.run([sys.executable, "-c", script], env=env, check=True,
                              capture_output=True, text=True, timeout=30).stdout.strip()

    first = key_in_subprocess(CHECKOUT_V1)
    assert len(first) == 64
    assert key_in_subprocess(CHECKOUT_V2) == first
    assert key_in_subprocess(CHECKOUT_V3) != first


def raise_in_refunds() -> None:
    raise KeyError("refund")


def raise_in_payments() -> None:
    raise KeyError("payment")


def test_the_message_takes_no_part_with_an_exception() -> None:
    """Two bugs behind one message are two keys; one bug behind two messages is one key."""
    def failing(func: Any, message: str, *args: object) -> logging.LogRecord:
        try:
            func()
        except KeyError:
            return record(message, *args, exc_info=sys.exc_info())
        raise AssertionError("no exception")

    generic = "Internal Server Error: %s"
    refunds = failing(raise_in_refunds, generic, "/refunds/")
    payments = failing(raise_in_payments, generic, "/refunds/")
    assert fingerprint(refunds) != fingerprint(payments)
    assert fingerprint(refunds) == fingerprint(failing(raise_in_refunds, "Exception on /a [GET]"))


def test_the_innermost_application_frame_is_the_raise_site() -> None:
    """Library frames below the application's call are skipped: json's own frames are not it."""
    def parse_order() -> object:
        return json.loads("{not json")

    try:
        parse_order()
    except ValueError:
        rec = record("bad order", exc_info=sys.exc_info())
    assert key(rec)[3:] == ("json.decoder.JSONDecodeError", f"{__name__}:parse_order")


def write_site_packages(root: Path) -> Path:
    """An application installed into a site-packages, calling a library there."""
    site = root / "lib" / "site-packages"
    (site / "identity_shop").mkdir(parents=True)
    (site / "identity_shop" / "__init__.py").write_text("")
    (site / "identity_shop" / "views.py").write_text(textwrap.dedent("""
        import sys
        import identity_vendor

        def checkout():
            return identity_vendor.lookup({}, "total")

        def checkout_caught():
            try:
                checkout()
            except KeyError:
                return sys.exc_info()
    """))
    (site / "identity_vendor.py").write_text("def lookup(table, name):\n    return table[name]\n")
    return site


@pytest.fixture
def installed_shop(tmp_path: Path) -> Any:
    site = write_site_packages(tmp_path)
    sys.path.insert(0, str(site))
    try:
        yield importlib.import_module("identity_shop.views")
    finally:
        sys.path.remove(str(site))
        for name in ("identity_shop.views", "identity_shop", "identity_vendor"):
            sys.modules.pop(name, None)


def test_in_app_selects_an_application_frame_in_site_packages(installed_shop: Any) -> None:
    """in_app names the application's packages wherever they are installed."""
    try:
        installed_shop.checkout()
    except KeyError:
        rec = record("failed", exc_info=sys.exc_info())
    # By default site-packages is library code: the innermost application frame is here.
    assert key(rec)[4] == f"{__name__}:test_in_app_selects_an_application_frame_in_site_packages"
    assert key(rec, ("identity_shop",))[4] == "identity_shop.views:checkout"
    assert key(rec, ("identity",))[4] == key(rec)[4]  # a prefix is a whole module name


def test_without_application_frames_the_innermost_frame_is_the_site(installed_shop: Any) -> None:
    """A traceback entirely in library code names the frame that raised."""
    rec = record("failed", exc_info=installed_shop.checkout_caught())
    assert key(rec)[4] == "identity_vendor:lookup"


def recurse(depth: int) -> int:
    return recurse(depth + 1)


def test_a_recursion_error_is_raised_in_the_recursive_function() -> None:
    """A thousand frames of one function: the site is that function."""
    try:
        recurse(0)
    except RecursionError:
        rec = record("too deep", exc_info=sys.exc_info())
    assert key(rec)[3:] == ("builtins.RecursionError", f"{__name__}:recurse")


def test_a_comprehension_is_the_function_it_is_written_in() -> None:
    """Python 3.12 inlines comprehensions: 3.11's <listcomp> frame must not be the site."""
    def total(orders: list[str]) -> int:
        return sum([{}[order] for order in orders])

    try:
        total(["A-1"])
    except KeyError:
        rec = record("failed", exc_info=sys.exc_info())
    assert key(rec)[4] == f"{__name__}:total"


def test_the_key_keeps_only_text() -> None:
    """Frames, tracebacks and exceptions are not kept by the key: they can be let go."""
    rec = record("failed", exc_info=exc_info_of(KeyError("x")))
    assert all(type(part) is str for part in key(rec))


def test_an_exception_never_raised_has_no_site() -> None:
    """exc_info=SomeError() that was never raised has no traceback: type alone."""
    rec = record("failed", exc_info=(KeyError, KeyError("x"), None))
    assert key(rec)[3:] == ("builtins.KeyError", "")


# Determinism ----------------------------------------------------------------------------

HASHSEED_SCRIPT = textwrap.dedent("""
    import json, logging, sys
    from incidentio_logging import fingerprint

    def make(msg, *args, exc_info=None):
        return logging.getLogger("shop").makeRecord(
            "shop", logging.ERROR, "f.py", 1, msg, args, exc_info)

    def fail():
        return {}["total"]

    try:
        fail()
    except KeyError:
        failed = make("failed", exc_info=sys.exc_info())
    records = [
        make(f"Card declined for order A-1 with {set(['visa', 'amex', 'jcb', 'diners'])}"),
        make("order %s failed", "A-1"),
        make({"event": "card_declined", "order": "A-1"}),
        make(KeyError("sku-1")),
        failed,
    ]
    print(json.dumps([fingerprint(r) for r in records]))
""")


def test_keys_are_identical_across_processes_with_different_hash_seeds() -> None:
    """Nothing depends on PYTHONHASHSEED: every process in a fleet sends the same keys."""
    def keys(seed: str) -> list[str]:
        env = {**os.environ, "PYTHONHASHSEED": seed,
               "PYTHONPATH": os.pathsep.join(sys.path)}
        out = subprocess.run([sys.executable, "-c", HASHSEED_SCRIPT], env=env, check=True,
                             capture_output=True, text=True, timeout=30).stdout
        result: list[str] = json.loads(out)
        return result

    first = keys("1")
    assert len(set(first)) == 5
    assert keys("2") == first
    assert keys("12345") == first


# The key on the wire --------------------------------------------------------------------

def test_fingerprint_is_the_key_on_the_wire(make_handler: MakeHandler, logger: logging.Logger,
                                            receiver: LocalReceiver) -> None:
    """fingerprint(record) equals the deduplication_key dedup="fingerprint" sent."""
    collect = Kept()
    logger.addHandler(collect)
    logger.addHandler(handler := make_handler(dedup="fingerprint", flush_interval=60))
    logger.error("order %s failed", "A-1")
    logger.error("Payment provider rejected the refund")
    logger.error({"event": "card_declined", "order": "A-1"})
    try:
        raise_in_refunds()
    except KeyError:
        logger.exception("refund failed")
    assert handler.flush(10)
    events = receiver.events
    assert len(events) == 4
    for event, rec in zip(events, collect.records, strict=True):
        assert event.deduplication_key == fingerprint(rec) == handler.fingerprint(rec)


def test_a_handler_answers_for_its_own_grouping(make_handler: MakeHandler,
                                                logger: logging.Logger, receiver: LocalReceiver,
                                                installed_shop: Any) -> None:
    """With in_app or group_by, handler.fingerprint(record) is that handler's key on the wire."""
    collect = Kept()
    logger.addHandler(collect)
    in_app = make_handler(dedup="fingerprint", in_app="identity_shop, billing")
    by_logger = make_handler(dedup="fingerprint", group_by=lambda r: r.name)
    logger.addHandler(in_app)
    logger.addHandler(by_logger)
    try:
        installed_shop.checkout()
    except KeyError:
        logger.exception("checkout failed")
    (rec,) = collect.records
    assert in_app.flush(10) and by_logger.flush(10)
    keys = {event.deduplication_key for event in receiver.events}
    assert keys == {in_app.fingerprint(rec), by_logger.fingerprint(rec)}
    assert len({in_app.fingerprint(rec), by_logger.fingerprint(rec), fingerprint(rec)}) == 3


@pytest.mark.parametrize("in_app", ["shop,billing", ["shop", "billing"]])
def test_in_app_takes_a_list_or_a_comma_separated_string(make_handler: MakeHandler,
                                                        in_app: Any) -> None:
    """dictConfig and INI files give strings; Python gives lists."""
    assert make_handler(in_app=in_app).settings.in_app == ("shop", "billing")


def test_in_app_grouping_still_counts_floods_on_the_callers_thread() -> None:
    """A full group of any Fingerprinter, not only the default one, gets a flood counter."""
    window = Window(key_function("fingerprint", lambda exc: None, ("shop",)), 1)
    window.add(capture(record("order %s failed", "A-1")))
    assert window.floods.open


# End to end -----------------------------------------------------------------------------

def test_four_f_string_records_are_one_event_with_one_key(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """The issue's f-string case: four orders declined, one alert."""
    collect = Kept()
    logger.addHandler(collect)
    logger.addHandler(handler := make_handler(dedup="fingerprint", flush_interval=60))
    for order in ("A-1001", "A-1002", "B-7", "C-88"):
        logger.error(f"Card declined for order {order}")
    assert handler.flush(10)
    (event,) = receiver.events
    assert event.title.endswith("Card declined for order A-1001 (+3 more)")
    assert len(event.records) == 4
    assert {fingerprint(r) for r in collect.records} == {event.deduplication_key}


def test_two_bugs_behind_djangos_generic_message_are_two_alerts(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """Django's own log_response: two views failing alike are two alerts; one view reached
    from two URLs is one."""
    log_response = pytest.importorskip("django.utils.log").log_response
    logger.addHandler(handler := make_handler(dedup="fingerprint", flush_interval=60))
    for view, path in ((raise_in_refunds, "/refunds/1/"), (raise_in_payments, "/pay/"),
                       (raise_in_refunds, "/refunds/2/")):
        try:
            view()
        except KeyError as exc:
            log_response("Internal Server Error: %s", path, logger=logger, exception=exc,
                         response=SimpleNamespace(status_code=500), request=None)
    assert handler.flush(10)
    refunds, payments = receiver.events
    assert refunds.deduplication_key != payments.deduplication_key
    assert [r["message"] for r in refunds.records] == ["Internal Server Error: /refunds/1/",
                                                       "Internal Server Error: /refunds/2/"]


def test_one_flask_view_failing_on_two_urls_is_one_alert(
        make_handler: MakeHandler, receiver: LocalReceiver) -> None:
    """Flask logs "Exception on /orders/1 [GET]" as an f-string: the exception decides."""
    flask = pytest.importorskip("flask")
    app = flask.Flask("identity_storefront")
    app.logger.addHandler(handler := make_handler(dedup="fingerprint", flush_interval=60))

    @app.route("/orders/<order>")
    def order_page(order: str) -> str:
        return str({}[order])

    try:
        client = app.test_client()
        assert client.get("/orders/1").status_code == 500
        assert client.get("/orders/2").status_code == 500
        assert handler.flush(10)
    finally:
        app.logger.removeHandler(handler)
    (event,) = receiver.events
    assert [r["message"] for r in event.records] == ["Exception on /orders/1 [GET]",
                                                     "Exception on /orders/2 [GET]"]


#: The README's "How grouping works" tables, message for message.
README_ONE_ALERT = [
    ("Card declined for order A-1001", "Card declined for order B-7"),
    ("Retrying in 5.0s", "Retrying in 200ms"),
    ("Cannot reach api.stripe.com:443", "Cannot reach 10.0.0.7:5432"),
    ("GET https://api.example.com/v1/orders/1?expand=items failed",
     "GET https://api.example.com/v2/refunds failed"),
    ("Unknown setting 'timeout'", "Unknown setting 'retries'"),
    ("Refund failed: card expired", "Refund failed: timed out"),
]
README_TWO_ALERTS = [
    ("Payment provider rejected the refund", "Payment provider rejected the capture"),
    ("Error: provider rejected the refund", "Error: provider rejected the capture"),
    ("Order A-1001: card declined", "Order A-1001: fraud suspected"),
]


@pytest.mark.parametrize(("first", "second"), README_ONE_ALERT)
def test_the_readmes_one_alert_examples_share_a_key(first: str, second: str) -> None:
    assert key(record(first)) == key(record(second))


@pytest.mark.parametrize(("first", "second"), README_TWO_ALERTS)
def test_the_readmes_two_alert_examples_differ(first: str, second: str) -> None:
    assert key(record(first)) != key(record(second))


def test_the_readme_shows_these_examples() -> None:
    """The tables above are the README's: a row removed there must be removed here."""
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    for first, second in README_ONE_ALERT + README_TWO_ALERTS:
        for message in (first, second):
            words = message.split(" ")
            assert words[-1] in readme, message


# Review r2 (issue 11): records that were two problems yet shared one key ------------------


def _lookup_order() -> None:
    order: dict[str, int] = {}
    order["id"] += 1  # KeyError


def _take_item() -> None:
    items: list[int] = []
    items[3] += 1  # IndexError


def test_queue_handler_records_of_two_bugs_behind_djangos_message_are_two_alerts(
        make_handler: MakeHandler, receiver: LocalReceiver) -> None:
    """Behind a stdlib QueueHandler, ``prepare()`` clears exc_info and writes the traceback
    into ``msg``. A KeyError in one view and an IndexError in another behind Django's one
    message are still two alerts, keyed from the traceback's text."""
    handler = make_handler(dedup="fingerprint", flush_interval=60)
    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    producer = logging.getLogger("django.request.identity_queue")
    producer.propagate = False
    queue_handler = logging.handlers.QueueHandler(q)
    producer.addHandler(queue_handler)
    try:
        for view, path in ((_lookup_order, "/refund"), (_take_item, "/checkout")):
            try:
                view()
            except Exception:
                producer.error("Internal Server Error: %s", path, exc_info=True)
    finally:
        producer.removeHandler(queue_handler)
    listener_side = [q.get_nowait(), q.get_nowait()]
    assert all(r.exc_info is None for r in listener_side)  # as a QueueListener hands them on
    for rec in listener_side:
        handler.handle(rec)
    assert handler.flush(5)
    assert len({e.deduplication_key for e in receiver.events}) == 2, [
        e.title for e in receiver.events]


def _queued(view: Any, in_app: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The key of a record that went through a QueueHandler's ``prepare()``."""
    try:
        view()
    except Exception:
        rec = record("Internal Server Error: %s", "/x", exc_info=sys.exc_info())
    prepared = logging.handlers.QueueHandler(None).prepare(rec)  # type: ignore[arg-type]
    assert prepared.exc_info is None
    return key(prepared, in_app)


def test_a_queued_traceback_is_keyed_by_type_and_innermost_application_frame() -> None:
    assert _queued(_lookup_order) == ("exception", "shop.payments", "ERROR", "KeyError",
                                      f"{__name__}:_lookup_order")
    assert _queued(_lookup_order) == _queued(_lookup_order)


def test_a_queued_traceback_skips_library_frames_and_keys_the_last_exception() -> None:
    def chained() -> None:
        try:
            json.loads("{")
        except ValueError as exc:
            raise LookupError("no order") from exc

    (kind, _, _, exc_type, site) = _queued(chained)
    # The last traceback is LookupError's; json's frames were in the first one.
    assert (kind, exc_type, site) == ("exception", "LookupError", f"{__name__}:chained")
    # Raised inside the stdlib: the site is still the application's frame that called it.
    assert _queued(lambda: json.loads("{"))[3:] == ("json.decoder.JSONDecodeError",
                                                    f"{__name__}:<lambda>")


def test_the_detail_after_a_colon_stops_at_the_end_of_its_line() -> None:
    assert mask("Refund failed: card expired\nretry queued") == "Refund failed: <*>\nretry queued"
    assert mask("Refund failed: card expired\nretry queued") != mask(
        "Refund failed: card expired\nrefund abandoned")


class RefundView:
    def post(self) -> None:
        {}["order"]


class CheckoutView:
    def post(self) -> None:
        {}["cart"]


def assert_two_alerts(handler: logging.Handler, receiver: LocalReceiver,
                      logger: logging.Logger, views: tuple[Any, Any]) -> None:
    """Each view's ``post`` raises a KeyError behind Django's one message: two alerts."""
    logger.addHandler(handler)
    for view in views:
        try:
            view.post()
        except KeyError:
            logger.exception("Internal Server Error: %s", "/x")
    assert handler.flush(5)  # type: ignore[call-arg]
    assert len({e.deduplication_key for e in receiver.events}) == 2, [
        e.title for e in receiver.events]


def test_same_named_methods_of_two_classes_are_two_alerts(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Django class-based views all have ``post``: a KeyError in RefundView.post and one in
    CheckoutView.post are two bugs in two places, not one alert."""
    assert_two_alerts(make_handler(dedup="fingerprint", flush_interval=60), receiver, logger,
                      (RefundView(), CheckoutView()))


class _Lazy:
    """A proxy in a module's globals, as Django's ``settings``: asking it for its class
    runs its setup."""

    asked = 0

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        type(self).asked += 1
        raise RuntimeError("settings are not configured")


lazy_settings = _Lazy()


class ReportView:  # after the proxy in the module's globals, so the lookup passes it
    settings = lazy_settings  # and one among the class's own attributes

    def get(self) -> None:
        {}["report"]


def test_naming_a_method_never_runs_a_proxys_setup(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    _Lazy.asked = 0  # pytest's collection asks every global for its class
    logger.addHandler(handler := make_handler(dedup="fingerprint", flush_interval=60))
    try:
        ReportView().get()
    except KeyError:
        logger.exception("failed")
    assert handler.flush(5)
    assert len(receiver.events) == 1
    assert _Lazy.asked == 0


@pytest.mark.parametrize(("first", "second"), [
    # An id before the colon: the problem statement after it is the message.
    ("Order A-1001: card declined", "Order A-1001: fraud suspected"),
    ("User 42: account locked", "User 42: password reset"),
    # A bracketed tag before the colon.
    ("[payments]: card declined", "[inventory]: disk full"),
])
def test_different_problems_after_a_masked_prefix_are_two_alerts(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        first: str, second: str) -> None:
    """With only values before the colon, the "detail after a colon" rule would leave no
    words at all: two unrelated problems must keep two keys."""
    handler = make_handler(dedup="fingerprint", flush_interval=60)
    logger.addHandler(handler)
    logger.error(f"{first}")
    logger.error(f"{second}")
    assert handler.flush(5)
    assert len({e.deduplication_key for e in receiver.events}) == 2, [
        e.title for e in receiver.events]


@pytest.mark.parametrize(("message", "masked"), [
    ("Order A-1001: card declined", "Order <*>: card declined"),
    ("[payments]: card declined", "<*>: card declined"),
    ("Disconnect (code 4001): token expired", "Disconnect (code <*>): <*>"),
    ("Order A-1: card declined: insufficient funds", "Order <*>: card declined: <*>"),
    ("worker-3: Refund failed: card expired", "<*>: Refund failed: <*>"),
])
def test_a_detail_follows_two_plain_words_at_least(message: str, masked: str) -> None:
    assert mask(message) == masked


def test_structlog_console_renderer_keeps_events_apart(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """With structlog's ConsoleRenderer last, the event is a name with "_": it is the
    template, not a name of code. card_declined and database_down with the same keys are
    two alerts."""
    structlog = pytest.importorskip("structlog")
    handler = make_handler(dedup="fingerprint", flush_interval=60)
    logger.addHandler(handler)
    log = structlog.wrap_logger(logger, wrapper_class=structlog.stdlib.BoundLogger,
                                processors=[structlog.stdlib.add_log_level,
                                            structlog.stdlib.add_logger_name,
                                            structlog.processors.TimeStamper(fmt="iso"),
                                            structlog.dev.ConsoleRenderer(colors=False)])
    log.error("card_declined", order_id="A-1")
    log.error("database_down", order_id="A-2")
    assert handler.flush(5)
    assert len({e.deduplication_key for e in receiver.events}) == 2, [
        e.title for e in receiver.events]


@pytest.mark.parametrize("line", [
    # As the worker hands it over once ConsoleRenderer's timestamp and level are stripped.
    "{event}                  amount=5 order=A-1",
    "{event}",
    # ConsoleRenderer's whole line: timestamp, level, event, logger, pairs.
    "2026-11-28T12:18:48.158194Z [error    ] {event}                  [shop.x] order=A-1",
])
def test_a_leading_event_name_before_pairs_is_kept(line: str) -> None:
    card, database = (mask(line.format(event=event))
                      for event in ("card_declined", "database_down"))
    assert card != database
    assert "card_declined" in card
    assert card == mask(line.format(event="card_declined").replace("A-1", "B-22"))


def test_a_leading_id_before_pairs_is_still_a_value() -> None:
    assert mask("A-1001 status=ok") == mask("B-7 status=ok")


# Review r4 (issue 11): records that were two problems yet shared one key, and the reverse --


def _atomic(func: Any) -> Any:
    """What transaction.atomic, method_decorator and login_required do: a
    functools.wraps wrapper takes the method's place in the class dict."""

    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return inner


class DecoratedRefundView:
    @_atomic
    @_atomic
    def post(self) -> None:
        {}["order"]

    @staticmethod
    @_atomic
    def check() -> None:
        {}["order"]

    @property
    @_atomic
    def total(self) -> int:
        return {}["order"]  # type: ignore[no-any-return]

    @functools.cached_property
    @_atomic
    def lines(self) -> int:
        return {}["order"]  # type: ignore[no-any-return]


class DecoratedCheckoutView:
    @_atomic
    def post(self) -> None:
        {}["order"]


def _site_of(call: Any) -> str:
    try:
        call()
    except KeyError:
        return key(record("failed", exc_info=sys.exc_info()))[-1]
    raise AssertionError("no KeyError")


def test_decorated_methods_of_two_views_are_two_alerts(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """A decorated method (transaction.atomic, method_decorator, login_required) is named
    by its class, through the wrappers' ``__wrapped__``: two views' ``post`` are two
    places, not one."""
    assert_two_alerts(make_handler(dedup="fingerprint", flush_interval=60), receiver, logger,
                      (DecoratedRefundView(), DecoratedCheckoutView()))


def test_decorated_static_methods_properties_and_cached_properties_are_named_by_class() -> None:
    view = DecoratedRefundView()
    assert _site_of(view.post) == f"{__name__}:DecoratedRefundView.post"
    assert _site_of(view.check) == f"{__name__}:DecoratedRefundView.check"
    assert _site_of(lambda: view.total) == f"{__name__}:DecoratedRefundView.total"
    assert _site_of(lambda: view.lines) == f"{__name__}:DecoratedRefundView.lines"


async def _charge_task() -> None:
    {}["order"]


async def _ship_task() -> None:
    raise ConnectionError("carrier down")


async def _in_task_group(*jobs: Any) -> None:
    import asyncio

    async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined,unused-ignore]
        for job in jobs:
            group.create_task(job())


def _task_group_key(*jobs: Any) -> tuple[str, ...]:
    import asyncio

    try:
        asyncio.run(_in_task_group(*jobs))
    except BaseException:
        return key(record("job failed", exc_info=sys.exc_info()))
    raise AssertionError("no ExceptionGroup")


def _leaf_key(job: Any) -> tuple[str, ...]:
    import asyncio

    try:
        asyncio.run(job())
    except Exception:
        return key(record("job failed", exc_info=sys.exc_info()))
    raise AssertionError("no exception")


needs_groups = pytest.mark.skipif(sys.version_info < (3, 11),
                                  reason="TaskGroup and ExceptionGroup: Python 3.11+")


@needs_groups
def test_two_bugs_inside_one_task_group_are_two_alerts() -> None:
    """asyncio.TaskGroup (and anyio, under Starlette) raise an ExceptionGroup from the
    ``async with`` line whatever failed inside: the group is keyed by what it holds."""
    assert _task_group_key(_charge_task) != _task_group_key(_ship_task)


@needs_groups
def test_a_group_of_one_is_keyed_as_its_exception() -> None:
    assert _task_group_key(_charge_task) == _leaf_key(_charge_task)
    assert _task_group_key(_charge_task)[3:] == ("builtins.KeyError",
                                                 f"{__name__}:_charge_task")


@needs_groups
def test_a_group_is_keyed_by_its_distinct_leaves_in_any_order() -> None:
    both = _task_group_key(_charge_task, _ship_task)
    assert both == _task_group_key(_ship_task, _charge_task, _ship_task)
    assert both not in (_task_group_key(_charge_task), _task_group_key(_ship_task))
    assert "builtins.KeyError" in both[3] and "builtins.ConnectionError" in both[3]


@needs_groups
def test_a_nested_group_is_keyed_by_its_leaves_within_bounds() -> None:
    def raised(exc: BaseException) -> BaseException:
        try:
            raise exc
        except BaseException as caught:
            return caught

    group_type: Any = vars(builtins)["ExceptionGroup"]
    leaf = raised(KeyError("x"))
    deep: BaseException = leaf
    for _ in range(50):
        deep = raised(group_type("nested", [deep]))
    wide = raised(group_type("wide", [raised(ValueError(str(n))) for n in range(10_000)]))
    for exc in (deep, wide):
        rec = record("failed", exc_info=(type(exc), exc, exc.__traceback__))
        assert len("".join(key(rec))) < 2_000
    assert key(record("failed", exc_info=(type(wide), wide, wide.__traceback__)))[3] == (
        "builtins.ValueError")


@pytest.mark.parametrize("messages", [
    ("ch_3MqLk2 amount=500 declined", "ch_9ZzQ1 amount=12 declined"),  # Stripe charge ids
    ("pi_3NaBc status=requires_payment_method", "pi_7XyZq status=requires_payment_method"),
    ("worker_12 heartbeat_missed=3", "worker_7 heartbeat_missed=1"),
    ("db7.prod.internal replication_lag=30", "db3.prod.internal replication_lag=12"),
    ("req_8f3a1", "req_77b2c"),  # a message that is only an id
])
def test_a_leading_id_with_digits_is_a_value_not_an_event(messages: tuple[str, str]) -> None:
    """An event name has no digit: an f-string that starts with an id
    (``f"{charge.id} amount={amount} declined"``) is one alert, not one per charge."""
    first, second = (record(text) for text in messages)
    assert fingerprint(first) == fingerprint(second)
    assert mask(messages[0]).startswith("<*>")


def _refuse(reason: str) -> None:
    raise ConnectionError(reason)


def _format_exc_key(reason: str) -> tuple[str, ...]:
    try:
        _refuse(reason)
    except ConnectionError:
        text = traceback.format_exc()
    assert text.startswith("Traceback (most recent call last):")
    return key(record(text))


def test_a_format_exc_traceback_is_keyed_as_an_exception() -> None:
    """``log.error(traceback.format_exc())`` starts with the traceback, no newline before
    it: keyed as the exception, so one bug whose text varies is one alert."""
    first = _format_exc_key("connection reset by peer")
    assert first == _format_exc_key("connection refused")
    assert first == ("exception", "shop.payments", "ERROR", "ConnectionError",
                     f"{__name__}:_refuse")
    # Only at the start of the message or of a line: a mention of the words is text.
    assert key(record("see Traceback (most recent call last): above"))[0] == "message"


def test_no_pattern_rescans_the_rest_of_the_text_from_each_word() -> None:
    """An unbounded lazy scan (``[...]*?``) in a lookahead, tried from each word start of
    a long compound ("a.-a.-a.-...", "a--a--..."), reads the rest of the text each time:
    quadratic within the scan limit. Every such scan is bounded."""
    from incidentio_logging import _identity

    for pattern in (_identity._VALUE, _identity._NOT_DETAIL, _identity._EVENT):
        assert re.search(r"[*+]\?", pattern.pattern) is None, pattern.pattern


