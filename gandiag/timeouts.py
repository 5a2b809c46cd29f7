"""A time limit per source: loading a file and drawing samples from it must finish in time.

A generator source is code from someone else (a ``torch.export`` program may hold an endless
``while_loop``; a TorchScript archive, loaded only with ``allow_torchscript``, an endless loop).
gandiag runs that code inside :func:`time_limit`; when the limit passes, the source becomes one
:class:`SourceTimeout` (a :class:`SourceError`: an error row of the audit, a one-line exit-2
error of ``score``/``sample``/``gate``) naming the source and the limit, and the other sources
go on.

Mechanism
---------
``signal.setitimer(ITIMER_REAL)`` arms ``SIGALRM``; its handler raises :class:`_Expired`, a
``BaseException`` so that no ``except Exception`` inside torch or the program swallows it, and
:func:`time_limit` turns it into :class:`SourceTimeout` where the limit was set. Limits nest
(the earliest deadline fires; the alarm is re-armed for the outer one on exit), and the previous
``SIGALRM`` handler is restored when the outermost limit ends.

A Python signal handler runs between bytecodes of the main thread, so it stops code that returns
to Python now and then (a ``torch.export`` program: torch runs ``while_loop`` and ``cond`` as a
Python loop over the subgraphs; an ATen operator's own kernel is not interrupted, the handler runs
when it returns). Native code that never returns to Python (the TorchScript interpreter) runs
through :func:`interruptible`: on a daemon worker thread, while the main thread waits for it in
an interruptible ``join``. When the limit passes, the main thread moves on; the worker is
abandoned (it keeps one core busy until it ends or the process exits). Native code that holds
the GIL throughout (``torch.jit.load`` running an archive's ``__setstate__``) cannot be stopped in
the process at all: :func:`probe_in_child` first runs it in a child process, killed at the limit.

Limits apply only in the main thread of the main interpreter (where Python delivers signals),
on platforms with ``setitimer`` (not Windows). Elsewhere (a Dask worker, a thread pool, a
notebook's background thread) sources run without a limit, as does everything while another
library's ``ITIMER_REAL`` alarm is armed (gandiag does not take it over).
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from .errors import GandiagInputError, SourceError

__all__ = ["SourceTimeout", "check_timeout", "interruptible", "limits_available", "probe_in_child", "time_limit"]

T = TypeVar("T")
TIMEOUT_HINT = "raise the limit with --timeout SECONDS (Python: timeout=; 0 for no limit) if the source is just slow"


class SourceTimeout(SourceError):
    """A source whose loading or sampling did not finish within the time limit."""


class _Expired(BaseException):
    """Raised by the alarm; a BaseException, so that ``except Exception`` in foreign code cannot catch it."""

    def __init__(self, limit: "_Limit") -> None:
        super().__init__(limit.what)
        self.limit = limit


@dataclass(eq=False)
class _Limit:
    deadline: float
    seconds: float
    source: str
    what: str


_ACTIVE: list[_Limit] = []  # the limits in force in the main thread, outermost first
_PREVIOUS_HANDLER: Any = None


def check_timeout(value: Any, name: str = "timeout") -> float | None:
    """``value`` as a limit in seconds, or None for no limit (``None`` or 0); errors name ``name``."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise GandiagInputError(f"{name} {value!r}: not a number of seconds (0: no limit)") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise GandiagInputError(f"{name} {value!r}: must be a number of seconds >= 0 (0: no limit)")
    if value == 0 or math.isinf(value):
        return None
    return float(value)


def limits_available() -> bool:
    """Whether a time limit can be enforced here: the main thread, on a platform with ``setitimer``."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _arm() -> None:
    """Set the alarm for the earliest deadline in force."""
    earliest = min(limit.deadline for limit in _ACTIVE)
    signal.setitimer(signal.ITIMER_REAL, max(earliest - time.monotonic(), 1e-4))


def _on_alarm(signum: int, frame: Any) -> None:
    if not _ACTIVE:  # fired as the last limit ended: nothing to stop
        return
    now = time.monotonic()
    expired = [limit for limit in _ACTIVE if limit.deadline <= now]
    if not expired:  # early (timer rounding): wait for the deadline
        _arm()
        return
    raise _Expired(min(expired, key=lambda limit: limit.deadline))


def _message(limit: _Limit) -> str:
    return f"{limit.what} did not finish within {limit.seconds:g} s"


@contextlib.contextmanager
def time_limit(seconds: float | None, source: object, what: str = "loading") -> Iterator[None]:
    """Run the block within ``seconds`` (None or 0: no limit), else raise :class:`SourceTimeout`.

    The error names ``source`` and the limit: ``"{source}: {what} did not finish within 300 s;
    raise the limit with --timeout SECONDS ..."``. Without :func:`limits_available` (off the main
    thread, on Windows) or while another library's ``ITIMER_REAL`` alarm is armed, the block runs
    without a limit.
    """
    global _PREVIOUS_HANDLER
    seconds = check_timeout(seconds)
    if seconds is None or not limits_available() or (not _ACTIVE and signal.getitimer(signal.ITIMER_REAL)[0] > 0):
        yield
        return
    limit = _Limit(time.monotonic() + seconds, seconds, str(source), what)
    if not _ACTIVE:
        _PREVIOUS_HANDLER = signal.signal(signal.SIGALRM, _on_alarm)
    _ACTIVE.append(limit)
    outer_expired = False
    try:
        try:
            _arm()
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)  # disarm first: the alarm cannot fire in the cleanup
    except _Expired as exc:
        if exc.limit is not limit:  # an outer limit's deadline: its own block reports it
            outer_expired = True
            raise
        raise SourceTimeout(limit.source, _message(limit), hint=TIMEOUT_HINT) from None
    finally:
        _ACTIVE.remove(limit)
        if _ACTIVE and not outer_expired:
            _arm()
        else:
            signal.signal(signal.SIGALRM, _PREVIOUS_HANDLER if _PREVIOUS_HANDLER is not None else signal.SIG_DFL)
            _PREVIOUS_HANDLER = None


def interruptible(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, run so that a time limit (or Ctrl-C) can stop the wait for native code.

    Within a :func:`time_limit` in the main thread, ``fn`` runs on a daemon worker thread and the
    main thread waits in ``join``, which the alarm interrupts; the worker is then abandoned (the
    code it runs, e.g. a TorchScript loop, must release the GIL, as torch's interpreter does).
    Anywhere else ``fn`` simply runs here. ``fn``'s result or exception is passed on.
    """
    if not _ACTIVE or not limits_available():
        return fn(*args)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="gandiag-source", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.5)  # returns to Python often, so the alarm's handler runs in time
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def probe_in_child(code: str, args: list[str], seconds: float | None, source: object, what: str = "loading") -> None:
    """Run ``code`` (Python that prints ``ready`` once its imports are done, then ``done``) in a child
    process; raise :class:`SourceTimeout` when ``done`` has not come ``seconds`` after ``ready``.

    For native code that holds the GIL until it ends, where neither an alarm nor
    :func:`interruptible` reaches it. The child's own failures are not reported here (the caller
    then runs the code itself and reports them); without a limit nothing runs.
    """
    seconds = check_timeout(seconds)
    if seconds is None:
        return
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    fd, seen, deadline = proc.stdout.fileno(), b"", None
    try:
        while b"done\n" not in seen:
            if deadline is None and b"ready\n" in seen:  # the child's imports are not timed, nor its exit
                deadline = time.monotonic() + seconds
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and (left <= 0 or not select.select([fd], [], [], left)[0]):
                raise SourceTimeout(source, f"{what} did not finish within {seconds:g} s (tried in a child process)",
                                    hint=TIMEOUT_HINT)
            chunk = os.read(fd, 4096)
            if not chunk:  # the child ended without "done": its failure is the caller's to find
                return
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
