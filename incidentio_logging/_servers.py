"""What some servers need from the handler: a warning at construction, a close at exit.

**uWSGI without threads**: said once, at construction.

uWSGI before 2.0.27 leaves Python threads support off unless ``--enable-threads`` (or
``--threads``) is given: its process then holds the GIL while it waits for requests,
and a thread the application started runs only while a request is being handled. The
worker's alerts wait for the next request, and those logged by the last one before a
quiet spell wait with it. uWSGI 2.0.27 turned threads on by default.

The ``uwsgi`` module exists only inside a uWSGI process, with its options in
``uwsgi.opt`` and its version in ``uwsgi.version`` (both bytes).

**uWSGI forks its workers from C**, after loading the application in the master
(unless ``--lazy-apps``): ``os.register_at_fork`` hooks run in a worker only with
``--py-call-uwsgi-fork-hooks`` or ``--py-call-osafterfork`` (the latter aborts every
worker at birth from Python 3.13, in uWSGI itself). Its Python plugin calls
``uwsgi.post_fork_hook``, if set, in each new worker, so the handlers' after-fork step
is chained onto it, keeping a hook set before (``uwsgidecorators.postfork`` sets one).

**Celery prefork children** end through billiard's ``Worker._do_exit()``, which calls
``os._exit()``: no atexit, so no ``logging.shutdown()``, and none of multiprocessing's
finalizers either. A child recycled by ``worker_max_tasks_per_child`` (or
``worker_max_memory_per_child``) or stopped at a warm shutdown would lose what it has
pending, its task's failure included. Just before that exit the child sends Celery's
``worker_process_shutdown`` signal, so the handlers close from there. Celery is not a
dependency: this is done only when the process has already imported it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

#: The first uWSGI whose threads support is on by default.
UWSGI_THREADS_BY_DEFAULT = (2, 0, 27)

#: Names the receiver to Celery, which then connects it once however often it is asked.
CELERY_DISPATCH_UID = "incidentio_logging.close_at_child_exit"


def uwsgi_without_threads(modules: Mapping[str, Any] | None = None) -> str | None:
    """The line to say when this process is a uWSGI one whose threads never run; or None.

    Silent when unsure (a version it cannot read, options it cannot see): the check
    on records that wait too long (see ``Worker``) still speaks if the worker never runs.
    """
    uwsgi = (sys.modules if modules is None else modules).get("uwsgi")
    if uwsgi is None:
        return None
    version = _version(getattr(uwsgi, "version", None))
    options = getattr(uwsgi, "opt", None)
    if version is None or version >= UWSGI_THREADS_BY_DEFAULT or not isinstance(options,
                                                                                Mapping):
        return None
    # "threads" turns threads support on at any value (an explicit 1 included), so its
    # presence is enough, as is that of "enable-threads".
    if any(options.get(name) for name in ("enable-threads", "threads")):
        return None
    shown = ".".join(map(str, version))
    return (f"uWSGI {shown} runs without --enable-threads: this handler's worker thread "
            "only runs while a request is being handled, so alerts wait for the next "
            "request and may be lost at exit. Add --enable-threads (enable-threads = true "
            "in the ini file), or use uWSGI 2.0.27 or later, where it is the default")


def after_uwsgi_fork(hook: Callable[[], None],
                     modules: Mapping[str, Any] | None = None) -> bool:
    """Have uWSGI run ``hook`` in each worker it forks; True when this is uWSGI.

    Chained once per process: a hook found there runs first, then ours.
    """
    uwsgi = (sys.modules if modules is None else modules).get("uwsgi")
    if uwsgi is None:
        return False
    previous = getattr(uwsgi, "post_fork_hook", None)
    if getattr(previous, "__wrapped__", None) is hook:
        return True

    def chained() -> None:
        if callable(previous):
            previous()
        hook()
    chained.__wrapped__ = hook  # type: ignore[attr-defined]
    try:
        setattr(uwsgi, "post_fork_hook", chained)  # noqa: B010 - a module from sys.modules
    except Exception:  # noqa: BLE001 - a read-only module: the record check still finds the fork
        return False
    return True


def _version(raw: object) -> tuple[int, ...] | None:
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    if not isinstance(text, str):
        return None
    try:
        return tuple(int(part) for part in text.split(".")[:3])
    except ValueError:
        return None


def close_at_celery_child_exit(close_all: Callable[[], None],
                               modules: Mapping[str, Any] | None = None) -> bool:
    """Run ``close_all`` when a Celery pool child is about to leave; True when connected.

    Connected once per process (a forked child inherits the connection), and only when
    Celery is already imported. Strongly referenced, so it lasts as long as the process.
    """
    if (sys.modules if modules is None else modules).get("celery") is None:
        return False
    try:
        signals = importlib.import_module("celery.signals")
        signals.worker_process_shutdown.connect(_closing(close_all), weak=False,
                                                dispatch_uid=CELERY_DISPATCH_UID)
    except Exception:  # noqa: BLE001 - a Celery without that signal: the exit stays as it was
        return False
    return True


def _closing(close_all: Callable[[], None]) -> Callable[..., None]:
    # Celery passes the signal's arguments by keyword (sender, pid, exitcode).
    def receiver(**_arguments: Any) -> None:
        close_all()
    return receiver
