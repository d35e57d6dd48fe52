"""Records to strict JSON: hostile values, bounds and scrubbing."""

from __future__ import annotations

import array
import collections
import dataclasses
import json
import logging
import math
import threading
import types
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import pytest

from incidentio_logging._record import capture, restore
from incidentio_logging._serialize import (
    BUDGET_NOTE,
    CUT,
    MAX_NODES,
    MAX_RECORD_BYTES,
    MAX_STRING,
    NOTE_KEY,
    RECORD_FIELDS,
    RecordSerializer,
    to_jsonable,
    traceback_signature,
)
from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler, exc_info_of, strict_json


def serialize(msg: str = "boom", exc: bool = False, **extra: Any) -> dict[str, Any]:
    exc_info = exc_info_of(KeyError("sku-9")) if exc else None
    record = logging.getLogger("shop").makeRecord(
        "shop.payments", logging.ERROR, "/app/pay.py", 42, msg, None, exc_info, func="pay",
        extra=extra)
    data: dict[str, Any] = strict_json(RecordSerializer().serialize(restore(capture(record))))
    return data


def test_standard_fields_and_extras() -> None:
    """The record's useful fields, under readable names, plus its extras."""
    data = serialize("Card declined", order_id="A-1", amount=42.5)
    assert data["level"] == "ERROR"
    assert data["logger"] == "shop.payments"
    assert data["message"] == "Card declined"
    assert (data["function"], data["line"], data["path"]) == ("pay", 42, "/app/pay.py")
    assert data["timestamp"].endswith("+00:00")
    assert (data["order_id"], data["amount"]) == ("A-1", 42.5)


def test_record_fields_name_every_key_a_record_gives_beside_its_extras() -> None:
    """With a traceback and a stack too: the receiver's console tells extras apart by it."""
    record = logging.getLogger("shop").makeRecord(
        "shop.payments", logging.ERROR, "/app/pay.py", 42, "boom", None,
        exc_info_of(KeyError("sku-9")), func="pay", extra={"order_id": "A-1"},
        sinfo="Stack (most recent call last):\n  here")
    data = strict_json(RecordSerializer().serialize(restore(capture(record))))
    assert set(data) == RECORD_FIELDS | {"order_id"}


def test_the_traceback_is_formatted_into_exc_info() -> None:
    """exc_info becomes the traceback text."""
    data = serialize(exc=True)
    assert data["exc_info"].startswith("Traceback (most recent call last)")
    assert "KeyError: 'sku-9'" in data["exc_info"]


def test_hostile_values_become_strict_json() -> None:
    """NaN, infinities, cycles, bytes, non-string keys, raising reprs, huge ints, surrogates."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    data = serialize(
        nan=math.nan, inf=-math.inf, cycle=cycle, raw=b"\xff\xfebytes",
        keys={1: "one", (2, 3): "tuple", None: "none"}, hostile=Hostile(),
        huge=10**5000, big=2**70, surrogate="lone \ud800 surrogate", nested=[[[[[[[[1]]]]]]]],
    )
    assert data["nan"] == "NaN" and data["inf"] == "-Infinity"
    assert data["cycle"] == {"self": "<cycle>"}
    assert data["raw"].endswith("bytes")
    assert data["keys"] == {"1": "one", "(2, 3)": "tuple", "None": "none"}
    assert data["hostile"] == "<unrepresentable Hostile>"
    assert data["huge"].startswith("<int of") and data["big"] == str(2**70)
    assert data["surrogate"] == "lone ? surrogate"
    assert "nested too deep" in json.dumps(data["nested"])


def test_long_values_are_cut_and_records_bounded() -> None:
    """A huge string is cut; a record too large overall is replaced by a short one."""
    data = serialize(blob="x" * (MAX_STRING + 500))
    assert data["blob"].endswith("[500 more characters]")
    many = {f"field{i}": "y" * MAX_STRING for i in range(8)}
    data = serialize("big record", **many)
    assert data["message"] == "big record"
    assert "incidentio_logging_note" in data
    assert len(json.dumps(data)) < MAX_RECORD_BYTES


def test_secret_looking_keys_are_scrubbed_at_any_depth() -> None:
    """password, token, api_key, authorization, cookie, session... at any depth."""
    data = serialize(password="p4ss", user={"name": "al", "API-Key": "k", "Session_ID": "s",
                                           "headers": [{"Authorization": "Basic x"}]},
                     db_passwd="x", note="sent Bearer abcdefghijklmnop to the API")
    assert data["password"] == "[scrubbed]" and data["db_passwd"] == "[scrubbed]"
    assert data["user"] == {"name": "al", "API-Key": "[scrubbed]", "Session_ID": "[scrubbed]",
                            "headers": [{"Authorization": "[scrubbed]"}]}
    assert data["note"] == "sent Bearer [scrubbed] to the API"


def test_to_jsonable_keeps_ordinary_values() -> None:
    """Plain JSON values pass through unchanged."""
    value = {"a": [1, 2.5, True, None, "s"], "b": {"c": "d"}}
    assert to_jsonable(value) == value


def raise_at(line: int, message: str = "boom") -> BaseException:
    """An exception raised from one of two lines, with a traceback."""
    try:
        if line == 1:
            raise ValueError(message)
        raise ValueError(message)
    except ValueError as exc:
        return exc


def info(exc: BaseException) -> Any:
    return (type(exc), exc, exc.__traceback__)


def test_one_raise_site_in_a_loop_has_one_traceback_signature() -> None:
    """A flood's tracebacks share a signature; another line or message does not."""
    first, again = raise_at(1), raise_at(1)
    assert first is not again
    assert traceback_signature(info(first)) == traceback_signature(info(again))
    assert traceback_signature(info(first)) != traceback_signature(info(raise_at(2)))
    assert traceback_signature(info(first)) != traceback_signature(info(raise_at(1, "other")))


def test_chained_exceptions_are_not_cached() -> None:
    """A cause or context prints more than the frames: no signature."""

    def chained() -> None:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ValueError("outer") from inner

    with pytest.raises(ValueError, match="outer") as caught:
        chained()
    assert traceback_signature(info(caught.value)) is None


def test_cached_tracebacks_read_exactly_as_fresh_ones() -> None:
    """The cache changes the cost, never the text."""
    serializer = RecordSerializer()
    exc = raise_at(1)
    fresh = logging.Formatter().formatException(info(exc))
    assert serializer.format_exception(info(exc)) == fresh
    assert serializer.format_exception(info(raise_at(1))) == fresh  # same frames, same text
    assert len(serializer._formatter._tracebacks) == 1


def test_request_objects_and_sockets_are_never_dumped() -> None:
    """A request's repr carries its query string: only its type name is sent."""

    class WSGIRequest:
        method = "GET"
        META: ClassVar[dict[str, str]] = {"HTTP_COOKIE": "sessionid=s3cr3t"}

        def __repr__(self) -> str:
            return "<WSGIRequest: GET '/checkout/?token=s3cr3t'>"

    import socket

    with socket.socket() as sock:
        data = serialize(request=WSGIRequest(), conn=sock)
    assert data["request"] == "<WSGIRequest>"
    assert data["conn"] == "<socket>"
    assert "s3cr3t" not in json.dumps(data)


class Counted(list):  # type: ignore[type-arg]
    """A list that counts the items read from it."""

    read = 0

    def __iter__(self) -> Any:
        for item in super().__iter__():
            Counted.read += 1
            yield item


def shared(levels: int) -> Counted:
    """``l = [l] * 100``, ``levels`` deep: a few hundred pointers, 100**levels paths."""
    value = Counted([1])
    for _ in range(levels):
        value = Counted([value] * 100)
    return value


@pytest.mark.timeout(30)
def test_shared_references_are_walked_within_the_node_budget() -> None:
    """Three levels of ``[l] * 100`` took 3.1 s; the walk now stops at MAX_NODES values,
    marks the cut in place and says so in the record."""
    Counted.read = 0
    data = serialize("huge extra", payload=shared(3), order_id="A-1")
    assert Counted.read <= MAX_NODES  # it was 2,010,100
    assert data["message"] == "huge extra" and data["timestamp"]
    assert data[NOTE_KEY] == BUDGET_NOTE
    assert CUT in json.dumps(data["payload"])


def test_a_large_parsed_response_is_cut_not_thrown_away() -> None:
    """791 KiB of parsed JSON was walked whole (97 ms) and then dropped for its size;
    now the record keeps what fits, up to the budget, and says it was cut."""
    response = {"items": [{"id": i, "name": f"item {i}", "tags": ["a", "b", "c"],
                           "price": i * 1.5, "description": "d" * 700} for i in range(100)]}
    data = serialize("gateway answered", response=response)
    assert data[NOTE_KEY] == BUDGET_NOTE
    items = data["response"]["items"]
    assert items[0]["name"] == "item 0" and items[-1] == CUT
    assert len(json.dumps(data)) < MAX_RECORD_BYTES


def test_records_within_budget_are_not_marked() -> None:
    """An ordinary record carries no note."""
    data = serialize("fine", order={"id": 1, "lines": list(range(50))})
    assert NOTE_KEY not in data


@dataclasses.dataclass
class Credentials:
    user: str
    password: str
    pin: str = dataclasses.field(default="1234", repr=False)


class Endpoint(NamedTuple):
    url: str
    api_key: str


class Database:
    def __init__(self) -> None:
        self.user_id = 7
        self.auth_token = "t0k3n-value"
        self.dsn = "postgres://app:s3cret@db:5432/shop"
        self._pool = ["private"]


def test_fields_of_dataclasses_namedtuples_and_plain_objects_are_scrubbed() -> None:
    """They become their fields, by name, and secret-looking names are scrubbed. What a
    class keeps out of its repr (``repr=False``, a leading underscore) stays out."""
    data = serialize("login", creds=Credentials("al", "hunter2"),
                     endpoint=Endpoint("https://x.example", "k-123"), db=Database())
    assert data["creds"] == {"user": "al", "password": "[scrubbed]"}
    assert data["endpoint"] == {"url": "https://x.example", "api_key": "[scrubbed]"}
    assert data["db"] == {"user_id": 7, "auth_token": "[scrubbed]",
                               "dsn": "postgres://app:[scrubbed]@db:5432/shop"}
    text = json.dumps(data)
    assert "hunter2" not in text and "k-123" not in text and "s3cret" not in text


def test_messages_and_tracebacks_are_scrubbed_like_extras() -> None:
    """URL passwords, pairs and cards in the message and the traceback's text."""
    data = serialize("connect to postgres://app:s3cret@db/shop failed: password=hunter2 "
                     "card 4111 1111 1111 1111", exc=True)
    assert data["message"] == ("connect to postgres://app:[scrubbed]@db/shop failed: "
                               "password=[scrubbed] card [scrubbed]")


@pytest.mark.timeout(30)
def test_one_huge_extra_does_not_delay_another_alert(make_handler: MakeHandler,
                                                     receiver: LocalReceiver,
                                                     logger: logging.Logger) -> None:
    """Four levels of ``[l] * 100`` held every alert for more than 5 s; now both the record
    that carries it and another problem's record of the same second are delivered by the
    first flush, and the walk read at most the budget."""
    handler = make_handler(flush_interval=0.05)
    logger.addHandler(handler)
    Counted.read = 0
    logger.error("report export failed", extra={"rows": shared(4)})
    logger.error("Card declined for order %s", "A-1")
    assert handler.flush(10)
    assert Counted.read <= MAX_NODES
    records = {r["message"]: r for e in receiver.events for r in e.records}
    assert set(records) == {"report export failed", "Card declined for order A-1"}
    assert records["report export failed"][NOTE_KEY] == BUDGET_NOTE
    assert NOTE_KEY not in records["Card declined for order A-1"]


class Leaf:
    """An object with its own ``__repr__``, which counts its calls."""

    calls = 0

    def __repr__(self) -> str:
        type(self).calls += 1
        return "L"


def shared_of(kind: Any, levels: int) -> Any:
    """``shared`` for another container type: ``kind([kind([Leaf()] * 100)] * 100)``..."""
    value = kind([Leaf()] * 100)
    for _ in range(levels):
        value = kind([value] * 100)
    return value


UNWALKED: dict[str, Callable[[], Any]] = {
    "deque": lambda: shared_of(collections.deque, 2),
    "UserList": lambda: shared_of(collections.UserList, 2),
    "SimpleNamespace": lambda: types.SimpleNamespace(rows=[[[Leaf()] * 100] * 100] * 100),
    "tuple as a dict key": lambda: {shared_of(tuple, 2): 1},
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", list(UNWALKED))
def test_an_extra_the_walk_did_not_know_stays_within_the_budget(
        receiver: LocalReceiver, make_handler: MakeHandler, logger: logging.Logger,
        kind: str) -> None:
    """The walk knew only Mapping, list, tuple, set and frozenset: a deque, a UserList or
    a SimpleNamespace went to repr(), and a non-string key to str(), each built whole and
    then cut. With shared references three levels are 10**6 reprs (5 s on the worker),
    four levels minutes. Now each is read only up to the record's MAX_NODES values."""
    handler = make_handler()
    logger.addHandler(handler)
    value = UNWALKED[kind]()
    Leaf.calls = 0
    logger.error("export failed", extra={"rows": value})
    assert handler.flush(20)
    assert receiver.events
    assert Leaf.calls <= MAX_NODES, f"{Leaf.calls:,} reprs for one extra"


class Tag(str):
    """A string subclass, as a key: its text, not its repr."""


def test_container_types_are_walked_as_their_items() -> None:
    """A deque, a UserList, a UserDict, dict views, an array and a SimpleNamespace become
    their items or fields, with secret-looking keys scrubbed; a generator is not consumed;
    a range, a UserString and a container key keep their short text."""
    numbers = (n for n in range(3))
    data = to_jsonable({
        "deque": collections.deque([1, "a"]), "user_list": collections.UserList([1, 2]),
        "user_dict": collections.UserDict({"password": "hunter2", "id": 7}),
        "values": {"a": 1, "b": 2}.values(), "array": array.array("i", [1, 2]),
        "items": {"token": "t-1", "n": 1}.items(),
        "namespace": types.SimpleNamespace(id=3, api_key="abc", _private=1),
        "range": range(5), "text": collections.UserString("ab"), "generator": numbers,
        "keys": {(1, ("a", None)): "t", Tag("x"): "s"},
    })
    assert data["deque"] == [1, "a"] and data["user_list"] == [1, 2]
    assert data["user_dict"] == {"password": "[scrubbed]", "id": 7}
    assert data["values"] == [1, 2] and data["array"] == [1, 2]
    assert data["items"] == {"token": "[scrubbed]", "n": 1}
    assert data["namespace"] == {"id": 3, "api_key": "[scrubbed]"}
    assert data["range"] == "range(0, 5)" and data["text"] == "'ab'"
    assert data["generator"].startswith("<generator object") and next(numbers) == 0
    assert data["keys"] == {"(1, ('a', None))": "t", "x": "s"}


@pytest.mark.timeout(20)
def test_a_lazy_object_in_extra_is_not_evaluated_by_the_worker(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """Django's request.user is a SimpleLazyObject: the walk's isinstance and hasattr
    probes went through its proxied ``__class__`` and ``__getattr__``, and evaluated it on
    the worker (a session and user query, or a hang on the failing database)."""
    functional = pytest.importorskip("django.utils.functional")
    loads: list[str] = []

    def load_user() -> object:
        loads.append(threading.current_thread().name)
        return object()

    logger.addHandler(make_handler())
    logger.error("checkout failed", extra={"user": functional.SimpleLazyObject(load_user)})
    (event,) = receiver.wait_for(1, timeout=10)
    assert event.records[0]["message"] == "checkout failed"
    assert event.records[0]["user"] == "<SimpleLazyObject>"
    assert loads == [], f"the lazy object was evaluated on {loads}"


class Proxy:
    """A proxy in the manner of wrapt's or Werkzeug's: every probe reaches its target."""

    probes: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self.id = 7

    def __getattr__(self, name: str) -> Any:
        Proxy.probes.append(name)
        raise AttributeError(name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # a proxy's class is its target's
        Proxy.probes.append("__class__")
        return dict

    def __repr__(self) -> str:
        Proxy.probes.append("__repr__")
        return "Proxy()"


def test_objects_whose_type_intercepts_attributes_are_opaque() -> None:
    """A type with ``__getattr__`` is named, never asked for a field, a repr or its class."""
    Proxy.probes.clear()
    assert to_jsonable({"target": Proxy()}) == {"target": "<Proxy>"}
    assert Proxy.probes == []


@pytest.mark.timeout(20)
def test_a_starlette_request_in_extra_is_summarized_by_type_not_dumped(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """Starlette's (FastAPI's) Request is a Mapping over the ASGI scope, and was walked as
    one: its headers (x-api-key), the client's address, under uvicorn the whole app."""
    requests_module = pytest.importorskip("starlette.requests")
    scope = {"type": "http", "method": "POST", "path": "/login", "query_string": b"",
             "headers": [(b"x-api-key", b"KEY-S3CRET-123"), (b"host", b"shop.example")],
             "client": ("203.0.113.9", 5000)}
    logger.addHandler(make_handler())
    logger.error("login failed", extra={"request": requests_module.Request(scope)})
    (event,) = receiver.wait_for(1, timeout=10)
    assert event.records[0]["request"] == "<Request>"
    assert b"KEY-S3CRET-123" not in b"".join(attempt.body for attempt in receiver.attempts)


def test_framework_requests_and_websockets_are_named_by_type() -> None:
    """Starlette's WebSocket, Werkzeug's (Flask's) Request and Django's WSGIRequest, by
    their types' names: their instances hold the method and headers, their classes not."""
    websockets = pytest.importorskip("starlette.websockets")
    werkzeug_test = pytest.importorskip("werkzeug.test")
    wsgi = pytest.importorskip("django.core.handlers.wsgi")

    async def nothing() -> dict[str, Any]:
        return {}

    socket = websockets.WebSocket({"type": "websocket", "path": "/ws", "headers": []},
                                  nothing, nothing)  # type: ignore[arg-type]
    request = werkzeug_test.EnvironBuilder("/pay?token=t-1",
                                           headers={"Cookie": "s=1"}).get_request()
    django_request = object.__new__(wsgi.WSGIRequest)  # built without settings
    vars(django_request).update(method="GET", META={"HTTP_COOKIE": "sessionid=s1"})
    assert to_jsonable({"ws": socket, "request": request, "django": django_request}) == {
        "ws": "<WebSocket>", "request": "<Request>", "django": "<WSGIRequest>"}


@pytest.mark.timeout(20)
def test_flask_request_headers_in_extra_do_not_send_credentials(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """``extra={"headers": request.headers}``: Werkzeug's Headers is not a Mapping, and its
    repr ``Headers([('Authorization', 'Basic ...'), ...])`` was sent unmasked. It is now
    walked as the mapping it is, and the same goes for an http.client message."""
    datastructures = pytest.importorskip("werkzeug.datastructures")
    import email.message

    headers = datastructures.Headers([("Authorization", "Basic c3ZjOkJBU0lDLVMzQ1JFVA=="),
                                      ("X-Api-Key", "HDR-S3CRET-42"), ("Accept", "*/*")])
    message = email.message.Message()
    message["X-Auth-Token"] = "MSG-S3CRET-7"
    message["Content-Type"] = "text/plain"
    logger.addHandler(make_handler())
    logger.error("upstream rejected the call", extra={"headers": headers, "reply": message})
    (event,) = receiver.wait_for(1, timeout=10)
    assert event.records[0]["headers"] == {"Authorization": "[scrubbed]",
                                           "X-Api-Key": "[scrubbed]", "Accept": "*/*"}
    assert event.records[0]["reply"] == {"X-Auth-Token": "[scrubbed]",
                                         "Content-Type": "text/plain"}
    bodies = b"".join(attempt.body for attempt in receiver.attempts)
    assert b"c3ZjOkJBU0lDLVMzQ1JFVA==" not in bodies
    assert b"HDR-S3CRET-42" not in bodies and b"MSG-S3CRET-7" not in bodies


@pytest.mark.timeout(30)
def test_a_large_deque_in_extra_is_not_read_whole() -> None:
    """A deque, an array or a dict view went to repr(), which renders every item (240 ms
    for a deque of 5M) to keep 1,000 characters; they are now read 100 items deep."""
    buffer = collections.deque([0] * 3_000_000)
    floats = array.array("d", bytes(8 * 3_000_000))
    sizes = dict.fromkeys(range(1_000_000), 1)
    data = to_jsonable({"latencies": buffer, "floats": floats, "keys": sizes.keys(),
                        "values": sizes.values()})
    for name, head, size in (("latencies", [0] * 100, 3_000_000),
                             ("floats", [0.0] * 100, 3_000_000),
                             ("keys", list(range(100)), 1_000_000),
                             ("values", [1] * 100, 1_000_000)):
        assert data[name] == [*head, f"<{size - 100} more items>"], name


def test_a_pair_whose_name_looks_secret_has_its_value_scrubbed() -> None:
    """ASGI's ``scope["headers"]`` and http.client's ``getheaders()`` are lists of
    (name, value) pairs, which the key rule never saw."""
    data = to_jsonable({"headers": [(b"x-api-key", b"K-1"), (b"host", b"shop")],
                        "pairs": [["Authorization", "Basic abc"], ("status", "passed")]})
    assert data == {"headers": [["x-api-key", "[scrubbed]"], ["host", "shop"]],
                    "pairs": [["Authorization", "[scrubbed]"], ["status", "passed"]]}


def test_a_pydantic_model_is_sent_as_its_shown_fields() -> None:
    """A model's class has a ``__getattr__`` (for private attributes), yet it is no proxy:
    its fields are read from its ``__dict__``, those declared ``repr=False`` left out."""
    pydantic = pytest.importorskip("pydantic")

    class Login(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        user: str
        password: str
        pin: str = pydantic.Field(default="1234", repr=False)

    assert to_jsonable(Login(user="al", password="hunter2")) == {
        "user": "al", "password": "[scrubbed]"}


class Haunted:
    """A plain object whose ``__dict__`` raises."""

    @property
    def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
        raise RuntimeError("no")


def test_an_object_whose_dict_raises_is_named_and_its_siblings_kept() -> None:
    assert to_jsonable({"odd": Haunted(), "order_id": "A-1"}) == {
        "odd": "<Haunted>", "order_id": "A-1"}
