"""Build the labelled corpus behind the grouping-accuracy benchmark.

    python -m benchmarks.build_grouping_corpus SITE_PACKAGES_DIR [MORE_DIRS ...]
    python -m benchmarks.build_grouping_corpus --reinstantiate   # from the stored templates

How it was built (``benchmarks/data/grouping_corpus.jsonl``):

1. **Templates.** Every ``.py`` file of the packages in ``PACKAGES`` (their installed
   sources; test files left out) is parsed with ``ast``. A template is the message of a
   logging call: ``<receiver>.debug/info/warning/warn/error/exception/critical/fatal(msg,
   ...)`` or ``<receiver>.log(level, msg, ...)``, where the receiver's last name is
   ``log``, ``logger`` or ``logging`` or ends in ``_log``/``_logger`` (``self.logger``,
   ``access_log``, ``gen_log``). The message counts when it is a string literal with
   ``%``-placeholders, a literal's ``.format(...)`` with ``{}`` fields, or an f-string.
   Left out: messages with no literal word of three letters or more (``"%s: %s"``: no
   one can say which of those belong together), ``*`` widths, and templates longer
   than ``MAX_TEMPLATE`` characters. Templates whose text is the same once each
   placeholder is written ``<*>`` are one template (first package in alphabetical order
   keeps it), so every distinct template is one true group.
2. **Sample.** At most ``PER_PACKAGE`` templates per package, drawn with a seeded
   generator, so that no one package dominates.
3. **Values.** Each placeholder gets one value generator, chosen from (in this order)
   its conversion (``%d`` is an integer, ``%.2f`` a float), its ``%(name)s`` key or
   ``{name}`` field, the source text of the argument passed for it (``self.host``,
   ``len(tasks)``, ``exc``) and the words just before and after it in the template
   (``"... to host %s"``); see ``RULES``. What nothing identifies falls back to a
   generator drawn per template from ``FALLBACK``. Values are what the running code
   would put there: integers, floats with their digits, host names, IPs, ``host:port``,
   URLs with ids and query strings, paths, e-mails, UUIDs, hex ids, ISO timestamps,
   exception texts, object reprs, and plain words where the context says so (method,
   module, queue and state names, user names). Words are honest: no stateless masker
   can tell that ``"Task add succeeded"`` and ``"Task mul succeeded"`` are one
   template, and the corpus does not pretend otherwise.
4. **Messages.** Each template is instantiated ``INSTANCES`` times (a seeded draw), by
   formatting the template with the values exactly as ``%`` or ``str.format``/an
   f-string would (``%r`` and ``!r`` give quoted reprs). A message that another
   template already produced is drawn again (or dropped), so that every text has one
   true group. The messages are then shuffled (seeded), since an online miner sees
   sources interleaved, as a real log is.

Each line of the corpus is one message: ``message``, ``template_id``, ``template``,
``style`` (``percent``, ``format`` or ``fstring``), ``package``, ``source`` (file and
line of the call) and ``generators`` (one per placeholder). Step 4 depends only on the
stored templates and the seed, so ``--reinstantiate`` rebuilds the same file from the
corpus itself; steps 1-2 depend on the package versions. The committed corpus was
extracted on 2026-11-28 from botocore 1.44.8, celery 5.7.0, django 5.2.19, flask 3.1.3,
gunicorn 27.0.1, hypothesis 6.170.17 (no logging call qualifies), jinja2 3.1.6, kombu
5.7.0, paramiko 5.1.0, requests 2.34.2 (none qualifies), selenium 4.51.0, sqlalchemy
2.1.9, tornado 6.6.1, urllib3 2.8.0, uvicorn 0.54.0 and werkzeug 3.1.9: the project's
test dependencies as installed, plus celery, kombu, botocore, sqlalchemy, tornado,
uvicorn and paramiko installed (``pip install --no-deps --target DIR``) only to read
their sources.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import string
import sys
import sysconfig
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

SEED = 20261128
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                      "grouping_corpus.jsonl")
PACKAGES = ("botocore", "celery", "django", "flask", "gunicorn", "hypothesis", "jinja2",
            "kombu", "paramiko", "requests", "selenium", "sqlalchemy", "tornado", "urllib3",
            "uvicorn", "werkzeug")
PER_PACKAGE = 45
INSTANCES = (5, 15)
MAX_TEMPLATE = 240
LEVELS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical",
                    "fatal"})
RECEIVER = re.compile(r"(?i)(^|_)(log|logger|logging)$")
PERCENT = re.compile(r"%(?:\((?P<key>[^)]*)\))?(?P<flags>[-#0 +]*)(?P<width>\*|\d+)?"
                     r"(?:\.(?P<prec>\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsa%])")
WORD = re.compile(r"[A-Za-z]{3,}")


@dataclass(frozen=True)
class Slot:
    """One placeholder: how it is written, and what the calling code passes for it."""

    spec: str  # "%.2f", "{!r}", "{:>8}"
    conv: str  # "d", "f", "s", "r", ... for % ; "r"/"s"/"a" or the format type for {}
    key: str  # %(key)s or {key}; "" when positional
    arg: str  # the argument's source text; "" when unknown
    before: str  # literal text before it
    after: str  # literal text after it


@dataclass(frozen=True)
class Template:
    """A logging call's message, as written in the source."""

    text: str
    style: str  # "percent", "format" or "fstring"
    package: str
    source: str
    slots: tuple[Slot, ...]
    generators: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The text with every placeholder written <*>: what dedupes templates."""
        return "<*>".join(literals(self.text, self.style))


# ---------------------------------------------------------------- template syntax


def split(text: str, style: str) -> Iterator[tuple[str, tuple[str, str, str] | None]]:
    """Literal pieces and placeholders, in order: (literal, (spec, conv, key) or None)."""
    if style == "percent":
        at = 0
        for match in PERCENT.finditer(text):
            if match["conv"] == "%":
                continue
            yield text[at:match.start()].replace("%%", "%"), (
                match.group(0), match["conv"], match["key"] or "")
            at = match.end()
        yield text[at:].replace("%%", "%"), None
        return
    for literal, field, fmt, conv in string.Formatter().parse(text):
        if field is None:
            yield literal or "", None
            continue
        spec = "{" + (f"!{conv}" if conv else "") + (f":{fmt}" if fmt else "") + "}"
        kind = conv or (fmt[-1] if fmt and fmt[-1].isalpha() else "s")
        yield literal or "", (spec, kind, field)


def literals(text: str, style: str) -> list[str]:
    """The literal text between placeholders (n placeholders, n + 1 pieces)."""
    pieces, current = [], ""
    for literal, slot in split(text, style):
        current += literal
        if slot is not None:
            pieces.append(current)
            current = ""
    pieces.append(current)
    return pieces


def render(template: Template, values: list[Any]) -> str:
    """The message the call would log with these values."""
    out = []
    slots = iter(values)
    for literal, slot in split(template.text, template.style):
        out.append(literal)
        if slot is None:
            continue
        spec, value = slot[0], next(slots)
        if template.style == "percent":
            spec = re.sub(r"^%\([^)]*\)", "%", spec)
            out.append(spec % (value,))
        else:
            out.append(spec.format(value))
    return "".join(out)


# ---------------------------------------------------------------- extraction


def _fstring(node: ast.JoinedStr) -> tuple[str, list[str]] | None:
    """An f-string as a {}-template, with each field's expression source."""
    text, args = [], []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            text.append(value.value.replace("{", "{{").replace("}", "}}"))
        elif isinstance(value, ast.FormattedValue):
            spec_node = value.format_spec
            parts = spec_node.values if isinstance(spec_node, ast.JoinedStr) else []
            if not all(isinstance(v, ast.Constant) for v in parts):
                return None  # a nested field in the spec: {x:{width}}
            spec = "".join(str(v.value) for v in parts if isinstance(v, ast.Constant))
            conv = chr(value.conversion) if value.conversion > 0 else ""
            field = re.sub(r"[^\w.]", "_", ast.unparse(value.value))[:40] or "value"
            text.append("{" + field + (f"!{conv}" if conv else "")
                        + (f":{spec}" if spec else "") + "}")
            args.append(ast.unparse(value.value))
        else:
            return None
    return "".join(text), args


def _message(call: ast.Call) -> tuple[str, str, list[str], dict[str, str]] | None:
    """(text, style, positional arg sources, keyword arg sources) of a logging call."""
    position = 0 if _name(call.func) in LEVELS else 1
    if len(call.args) <= position:
        return None
    msg, rest = call.args[position], call.args[position + 1:]
    if isinstance(msg, ast.Constant) and isinstance(msg.value, str):
        keys: dict[str, str] = {}
        if len(rest) == 1 and isinstance(rest[0], ast.Dict):
            pairs = zip(rest[0].keys, rest[0].values, strict=True)
            keys = {k.value: ast.unparse(v) for k, v in pairs
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)}
        return msg.value, "percent", [ast.unparse(a) for a in rest], keys
    if isinstance(msg, ast.JoinedStr):
        parsed = _fstring(msg)
        return None if parsed is None else (parsed[0], "fstring", parsed[1], {})
    if (isinstance(msg, ast.Call) and isinstance(msg.func, ast.Attribute)
            and msg.func.attr == "format" and isinstance(msg.func.value, ast.Constant)
            and isinstance(msg.func.value.value, str)):
        return (msg.func.value.value, "format", [ast.unparse(a) for a in msg.args],
                {k.arg: ast.unparse(k.value) for k in msg.keywords if k.arg})
    return None


def _name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _is_logging_call(node: ast.AST) -> bool:
    """A logger's level method or ``log(level, ...)``, or a package's own ``_log(level,
    msg, *args)`` helper (werkzeug's, paramiko's), which passes both on to a logger."""
    if not isinstance(node, ast.Call):
        return False
    if _name(node.func) == "_log":
        return True
    if not isinstance(node.func, ast.Attribute):
        return False
    if node.func.attr not in LEVELS and node.func.attr != "log":
        return False
    return bool(RECEIVER.search(_name(node.func.value)))


def template_of(call: ast.Call, package: str, source: str) -> Template | None:
    """The call's template, or None when it is not one the corpus takes."""
    found = _message(call)
    if found is None:
        return None
    text, style, args, keywords = found
    try:
        pieces = list(split(text, style))
    except ValueError:
        return None
    if "%" in text and style == "percent" and PERCENT.sub("", text).count("%"):
        return None  # a stray % that logging would choke on
    placeholders = [p for _, p in pieces if p is not None]
    if not placeholders or len(text) > MAX_TEMPLATE or "*" in "".join(p[0] for p in placeholders):
        return None
    lits = literals(text, style)
    if not WORD.search("".join(lits)):
        return None
    slots = []
    for i, (spec, conv, key) in enumerate(placeholders):
        if key and not key.isdigit():
            arg = keywords.get(key, key)
        else:
            index = int(key) if key.isdigit() else i
            arg = args[index] if index < len(args) else ""
        slots.append(Slot(spec, conv, key, arg, lits[i], lits[i + 1]))
    return Template(text, style, package, source, tuple(slots))


def extract(root: str, package: str) -> Iterator[Template]:
    """Every template in one package's sources, in file and line order."""
    base = os.path.join(root, package)
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in {"tests", "test", "testing"})
        for name in sorted(files):
            if not name.endswith(".py") or name.startswith("test_"):
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, encoding="utf-8") as f:
                    tree = ast.parse(f.read())
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            relative = os.path.relpath(path, root)
            calls = sorted((n for n in ast.walk(tree) if _is_logging_call(n)),
                           key=lambda n: (n.lineno, n.col_offset))
            for call in calls:
                assert isinstance(call, ast.Call)
                template = template_of(call, package, f"{relative}:{call.lineno}")
                if template is not None:
                    yield template


def version(root: str, package: str) -> str:
    for entry in os.listdir(root):
        if entry.endswith(".dist-info") and entry.split("-")[0].lower() == package.lower():
            return entry[:-len(".dist-info")].split("-", 1)[1]
    return "?"


# ---------------------------------------------------------------- values

WORDS = ("orders", "payments", "default", "billing", "inventory", "users", "sessions",
         "refund", "capture", "checkout", "invoice", "shipping", "reports", "search",
         "notifications", "metrics", "analytics", "cache", "auth", "profile", "catalog",
         "cart", "emails", "webhooks", "exports", "imports", "ledger", "pricing", "audit")
STATES = ("PENDING", "STARTED", "SUCCESS", "FAILURE", "RETRY", "REVOKED", "running",
          "stopped", "idle", "closed", "open", "ready", "terminated", "connected")
FUNCS = ("process_order", "send_email", "sync_inventory", "charge_card", "refresh_token",
         "handle_webhook", "rebuild_index", "add", "mul", "cleanup", "export_csv", "ping",
         "update_profile", "compute_totals", "import_feed", "resize_image")
MODULES = ("shop.payments", "shop.orders.tasks", "app.views", "billing.invoices",
           "myproject.settings", "accounts.backends", "api.v2.handlers", "workers.sync",
           "reports.export", "search.indexer", "core.middleware", "auth.tokens")
CLASSES = ("OrderService", "PaymentGateway", "UserSerializer", "Connection", "Channel",
           "Consumer", "Producer", "RedisBackend", "HTTPAdapter", "Session", "Worker",
           "TaskPool", "Request", "QuerySet", "Engine", "Pool", "Transport", "Router")
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "mallory",
         "oscar", "peggy", "trent", "victor", "walter", "admin", "jdoe", "s.smith",
         "maria_g", "kim2", "ops")
DOMAINS = ("example.com", "example.org", "prod.internal", "svc.cluster.local", "corp.net")
HOSTS = ("db", "api", "cache", "web", "worker", "redis", "rabbitmq", "auth", "search",
         "payments", "mq", "s3")
EXTS = ("json", "csv", "log", "py", "txt", "html", "tar.gz", "pdf", "yaml", "png")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGCHLD", "SIGKILL")
HEADERS = ("Content-Type", "Authorization", "X-Request-ID", "Accept", "Host", "Cookie",
           "User-Agent", "Content-Length", "X-Forwarded-For")
ERRNO = ((111, "Connection refused"), (104, "Connection reset by peer"),
         (110, "Connection timed out"), (2, "No such file or directory"),
         (13, "Permission denied"), (32, "Broken pipe"), (28, "No space left on device"))

Gen = Callable[[random.Random], Any]


def _host(r: random.Random) -> str:
    return f"{r.choice(HOSTS)}-{r.randint(1, 40)}.{r.choice(DOMAINS)}"


def _ip(r: random.Random) -> str:
    if r.random() < 0.1:
        return f"2001:db8:{r.randint(0, 0xffff):x}::{r.randint(1, 0xffff):x}"
    return f"{r.choice((10, 172, 192))}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _path(r: random.Random) -> str:
    top = r.choice(("/var/lib/app", "/srv/data", "/home/deploy/releases", "/tmp",
                    "/opt/app/media", "/etc/app", "/var/log/app"))
    parts = [top] + [r.choice(WORDS) for _ in range(r.randint(0, 2))]
    name = r.choice((f"{r.choice(WORDS)}_{r.randint(1, 9999)}",
                     uuid.UUID(int=r.getrandbits(128)).hex[:12],
                     f"{r.choice(WORDS)}-{r.randint(2020, 2026)}-{r.randint(1, 12):02d}"))
    return "/".join([*parts, f"{name}.{r.choice(EXTS)}"])


def _url(r: random.Random) -> str:
    scheme = r.choice(("https", "https", "http"))
    host = r.choice((_host(r), f"{r.choice(('api', 'www', 'hooks'))}.{r.choice(DOMAINS)}",
                     f"{_ip(r)}:{r.randint(1024, 65535)}"))
    path = f"/{r.choice(('v1', 'v2', 'api'))}/{r.choice(WORDS)}/{r.randint(1, 99999)}"
    if r.random() < 0.4:
        path += f"?page={r.randint(1, 50)}&sort={r.choice(('asc', 'desc'))}"
    return f"{scheme}://{host}{path}"


def _timestamp(r: random.Random) -> str:
    day, clock = f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}", (
        f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}")
    return r.choice((f"{day} {clock},{r.randint(0, 999):03d}",
                     f"{day}T{clock}.{r.randint(0, 999999):06d}+00:00",
                     f"{day} {clock}", f"{day}T{clock}Z"))


def _exception(r: random.Random) -> str:
    errno, text = r.choice(ERRNO)
    return r.choice((
        f"[Errno {errno}] {text}",
        f"HTTPSConnectionPool(host='{_host(r)}', port=443): Read timed out. "
        f"(read timeout={r.randint(1, 60)})",
        f"'NoneType' object has no attribute '{r.choice(WORDS)}'",
        f"invalid literal for int() with base 10: '{r.choice(WORDS)}'",
        f"'{r.choice(WORDS)}'",
        "division by zero",
        f"timed out after {r.randint(1, 120)} seconds",
        f"duplicate key value violates unique constraint \"{r.choice(WORDS)}_pkey\"",
        "list index out of range",
    ))


def _object(r: random.Random) -> str:
    cls = r.choice(CLASSES)
    return r.choice((f"<{r.choice(MODULES)}.{cls} object at 0x7f{r.getrandbits(40):010x}>",
                     f"<{cls}: {r.choice(WORDS)}#{r.randint(1, 9999)}>",
                     f"<{cls} {r.choice(USERS)}@{_host(r)}:{r.randint(1024, 65535)}>"))


def _key(r: random.Random) -> str:
    return r.choice((f"{r.choice(WORDS)}:{r.randint(1, 99999)}",
                     uuid.UUID(int=r.getrandbits(128)).hex[:16],
                     f"{r.choice(WORDS)}_{r.choice(WORDS)}",
                     f"{r.choice(WORDS)}/{r.randint(1, 999)}/{r.choice(WORDS)}"))


def _value(r: random.Random) -> str:
    return r.choice((f"{r.choice(WORDS)}-{r.randint(1, 99)}", r.choice(WORDS),
                     str(r.randint(0, 9999))))


def _addr(r: random.Random) -> str:
    return r.choice((f"{_ip(r)}:{r.randint(1024, 65535)}", f"{_host(r)}:{r.randint(1024, 65535)}",
                     f"('{_ip(r)}', {r.randint(1024, 65535)})"))


def _email(r: random.Random) -> str:
    user = r.choice(USERS).replace(".", "")
    return f"{user}{r.choice(('', str(r.randint(1, 99))))}@{r.choice(DOMAINS)}"


def _sql(r: random.Random) -> str:
    if r.random() < 0.5:
        return f"SELECT * FROM {r.choice(WORDS)} WHERE id = {r.randint(1, 99999)}"
    return (f"UPDATE {r.choice(WORDS)} SET state = '{r.choice(STATES)}' "
            f"WHERE id = {r.randint(1, 99999)}")


STATUSES = (200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504)
GENERATORS: dict[str, Gen] = {
    "count": lambda r: r.choice((r.randint(0, 9), r.randint(10, 999), r.randint(1000, 99999))),
    "int_id": lambda r: r.randint(1, 2_000_000),
    "port": lambda r: r.choice((r.randint(1024, 65535),
                                r.choice((80, 443, 5432, 6379, 5672, 8000)))),
    "pid": lambda r: r.randint(300, 4_000_000),
    "status": lambda r: r.choice(STATUSES),
    "size": lambda r: r.choice((r.randint(0, 1023), r.randint(1024, 10**6),
                                r.randint(10**6, 10**10))),
    "seconds": lambda r: round(r.uniform(0, 120), r.choice((1, 2, 3, 4, 6, 9))),
    "hex_int": lambda r: r.getrandbits(r.choice((16, 32, 48))),
    "host": _host,
    "ip": _ip,
    "addr": _addr,
    "url": _url,
    "path": _path,
    "email": _email,
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "hex_id": lambda r: f"{r.getrandbits(r.choice((32, 48, 64, 160))):x}",
    "user": lambda r: r.choice(USERS),
    "timestamp": _timestamp,
    "method": lambda r: r.choice(METHODS),
    "key": _key,
    "sql": _sql,
    "version": lambda r: f"{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 20)}",
    "signal": lambda r: r.choice(SIGNALS),
    "class": lambda r: r.choice(CLASSES),
    "module": lambda r: r.choice(MODULES),
    "func": lambda r: r.choice(FUNCS),
    "state": lambda r: r.choice(STATES),
    "word": lambda r: r.choice(WORDS),
    "header": lambda r: r.choice(HEADERS),
    "exception": _exception,
    "object": _object,
    "value": _value,
}

# (generator, pattern) in priority order, matched against the slot's key and argument
# source first, then against the words just before and after it.
RULES: tuple[tuple[str, str], ...] = (
    ("count", r"^len\("),
    ("exception", r"^(e|ex|exc|err|error|exception|reason|exc_value|msg|message)$|exc_info"
                  r"|^why$|\berror:\s*$|\bexception:\s*$|\breason:\s*$"),
    ("url", r"url|uri|href|endpoint|redirect|location|link"),
    ("email", r"e-?mail|mail_?to|recipient"),
    ("addr", r"addr|address|sockname|peername|bind|listen"),
    ("ip", r"\bip\b|remote_ip|client_ip"),
    ("port", r"\bport\b"),
    ("host", r"host|server|domain|netloc|broker|node"),
    ("path", r"path|file|dir\b|directory|folder|\.py\b|template_name|filename|mountpoint"),
    ("uuid", r"uuid|task_id|request_id|correlation|delivery_tag|\bjob\b"),
    ("hex_id", r"\bhash|digest|checksum|fingerprint|etag|\bsha|\bmd5|\bid\b|_id\b|\bident"),
    ("sql", r"\bsql\b|query|statement|stmt"),
    ("timestamp", r"time(stamp)?\b|date|\beta\b|expires|deadline|\bat\b\s*$|\bsince\b"
                  r"|\buntil\b"),
    ("seconds", r"seconds|secs|timeout|delay|interval|elapsed|duration|took|wait|countdown"
                r"|sleep"),
    ("pid", r"\bpid\b|process"),
    ("status", r"status|\bcode\b"),
    ("size", r"size|bytes|length|\blen\b|memory|\bkb\b|\bmb\b"),
    ("count", r"count|\bnum|\bn\b|number|total|retries|retry|attempt|limit|max_|tries|workers"
              r"|concurrency|\bline\b|lineno|level"),
    ("user", r"user|username|login|account|owner"),
    ("email", r"sender|from_addr"),
    ("method", r"^method$|request_method|\bverb\b|\.method$|\[.method.\]"),
    ("func", r"func|callback|handler|method|task|callable|hook|view"),
    ("module", r"module|app\b|package|import|settings|backend|loader"),
    ("class", r"class|cls|type|model|__name__|kind"),
    ("signal", r"signal|\bsig(_?name)?\b|signum"),
    ("state", r"state|status_name|mode|phase"),
    ("header", r"header"),
    ("key", r"key|token|cookie|session"),
    ("version", r"version|\bv\d|release"),
    ("object", r"^self$|^obj$|^instance$|connection|conn|channel|consumer|producer|pool|sock"
               r"|transport|request$|future|response"),
    ("word", r"name|queue|exchange|routing|event|command|\bcmd\b|option|field|param|arg|attr"
             r"|label|tag|topic|database|\bdb\b|table|alias|scheme|protocol|encoding|format"
             r"|backend|action|operation|\bop\b|kind|target|group|service"),
)
COMPILED = tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in RULES)
TIME_UNIT = re.compile(r"(seconds?|secs?|ms|milliseconds?|minutes?|hours?)\b")
COUNT_UNIT = re.compile(r"(files|bytes|times|processes|workers|tasks|task\(s\)|items|messages|"
                        r"message\(s\)|msgs|attempts|retries|connections|objects|rows|records|"
                        r"entries|characters|chars|threads|children|keys|events|requests)(\W|$)")
FALLBACK = ("word", "word", "value", "value", "count", "object", "key", "func")
#: The generators whose values are plain words, which no stateless masker groups.
WORD_GENERATORS = frozenset({"word", "func", "module", "class", "state", "user", "method",
                             "signal", "header"})
NUMERIC = {"d": "count", "i": "count", "u": "count", "o": "count", "x": "hex_int",
           "X": "hex_int", "e": "seconds", "E": "seconds", "f": "seconds", "F": "seconds",
           "g": "seconds", "G": "seconds", "n": "count"}
INTEGRAL = {"count", "int_id", "port", "pid", "status", "size", "hex_int"}
FLOATING = {"seconds"}


def choose(slot: Slot, r: random.Random) -> str:
    """The generator for one placeholder: a unit word right after it first (``%s
    seconds``, ``%s files``), then RULES in order, then the conversion."""
    if slot.after[:1] == " ":
        if TIME_UNIT.match(slot.after[1:]):
            return "count" if slot.conv in "diuxXo" else "seconds"
        if COUNT_UNIT.match(slot.after[1:]):
            return "count"
    own = [text for text in (slot.key, slot.arg) if text]
    words = " ".join(slot.before.split()[-3:])
    around = f"{words} {' '.join(slot.after.split()[:2])}"
    found = ""
    for name, pattern in COMPILED:
        if any(pattern.search(text) for text in own):
            found = name
            break
    if not found:
        for name, pattern in COMPILED:
            if pattern.search(words) or pattern.search(around):
                found = name
                break
    if slot.conv in NUMERIC:
        floating = slot.conv not in "diuoxXn"
        if found in (FLOATING if floating else INTEGRAL) and slot.conv not in "xX":
            return found
        if found == "uuid" or found == "hex_id":
            return "hex_int" if slot.conv in "xX" else "int_id"
        return NUMERIC[slot.conv]
    if slot.conv == "c":
        return "word"  # %c of a str takes a one-char string; none of the kept templates uses it
    return found or r.choice(FALLBACK)


# ---------------------------------------------------------------- corpus


def templates_from(roots: list[str], seed: int = SEED) -> list[Template]:
    """Steps 1-2: the deduplicated, sampled templates, each with its generators chosen."""
    seen: dict[str, Template] = {}
    by_package: dict[str, list[Template]] = {}
    for package in PACKAGES:
        root = next((r for r in roots if os.path.isdir(os.path.join(r, package))), None)
        if root is None:
            raise SystemExit(f"{package} not found under {roots}")
        print(f"{package} {version(root, package)} from {root}", file=sys.stderr)
        for template in extract(root, package):
            if template.key not in seen:
                seen[template.key] = template
                by_package.setdefault(package, []).append(template)
    chosen: list[Template] = []
    for package in PACKAGES:
        pool = [t for t in map(with_generators, by_package.get(package, [])) if t is not None]
        r = random.Random(f"{seed}:sample:{package}")
        sample = pool if len(pool) <= PER_PACKAGE else r.sample(pool, PER_PACKAGE)
        chosen.extend(sorted(sample, key=lambda t: t.source))
    return chosen


def with_generators(template: Template, seed: int = SEED) -> Template | None:
    """The template with a generator per slot, or None when its values cannot be
    formatted into it (a ``{:,}`` on a word, say)."""
    r = random.Random(f"{seed}:gen:{template.source}")
    gens = tuple(choose(slot, r) for slot in template.slots)
    try:
        render(template, [GENERATORS[g](r) for g in gens])
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    return Template(template.text, template.style, template.package, template.source,
                    template.slots, gens)


def instantiate(templates: list[Template], seed: int = SEED) -> list[dict[str, Any]]:
    """Steps 3-4: the messages, labelled, shuffled."""
    owner: dict[str, str] = {}
    lines = []
    for index, template in enumerate(templates):
        tid = f"T{index:04d}"
        r = random.Random(f"{seed}:{tid}:{template.text}")
        for _ in range(r.randint(*INSTANCES)):
            for _attempt in range(5):
                values = [GENERATORS[g](r) for g in template.generators]
                message = render(template, values)
                if owner.setdefault(message, tid) == tid:
                    break
            else:
                continue
            lines.append({"message": message, "template_id": tid, "template": template.text,
                          "style": template.style, "package": template.package,
                          "source": template.source, "generators": list(template.generators)})
    random.Random(f"{seed}:shuffle").shuffle(lines)
    return lines


def templates_in(lines: list[dict[str, Any]]) -> list[Template]:
    """The templates a corpus was instantiated from, in their original order."""
    first: dict[str, Template] = {}
    for line in lines:
        first.setdefault(line["template_id"], Template(
            line["template"], line["style"], line["package"], line["source"], (),
            tuple(line["generators"])))
    return [first[tid] for tid in sorted(first)]


def dumps(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines)


def load(path: str = CORPUS) -> list[dict[str, Any]]:
    """The corpus, one dict per message, in its order."""
    with open(path, encoding="utf-8") as corpus:
        return [json.loads(line) for line in corpus]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.build_grouping_corpus")
    parser.add_argument("roots", nargs="*", help="directories holding the packages' sources")
    parser.add_argument("--reinstantiate", action="store_true",
                        help="rebuild the messages from the templates stored in the corpus")
    parser.add_argument("--output", default=CORPUS)
    args = parser.parse_args(argv)
    if args.reinstantiate:
        templates = templates_in(load(args.output))
    else:
        templates = templates_from(args.roots or [sysconfig.get_paths()["purelib"]])
    lines = instantiate(templates)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as out:
        out.write(dumps(lines))
    packages: dict[str, int] = {}
    for t in templates:
        packages[t.package] = packages.get(t.package, 0) + 1
    print(f"{len(templates)} templates, {len(lines)} messages: {packages}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
