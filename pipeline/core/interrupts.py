"""SIGTERM and SIGHUP as an exception that unwinds a command like Ctrl-C does, so temporaries go and saved work stays.

A signal handler's exception can land where Python swallows it (a weakref callback, a
``__del__``), so the signal is also remembered, and ``raise_if_stopped`` raises it again at the
points where going on would matter: before a file is renamed into place and at each stage.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_pending: int | None = None


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived while a command ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


def _on_signal(signum: int, frame: Any) -> None:
    global _pending
    if _pending is not None:  # already unwinding: a second signal must not interrupt the clean-up
        return
    _pending = signum
    raise_if_stopped()


def raise_if_stopped() -> None:
    """Raise the arrived signal's exception again (Ctrl-C: KeyboardInterrupt, else ``Stopped``) if its first was swallowed."""
    if _pending == signal.SIGINT:
        raise KeyboardInterrupt
    if _pending is not None:
        raise Stopped(_pending)


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """While the block runs (in the main thread), SIGTERM and SIGHUP raise ``Stopped`` and Ctrl-C KeyboardInterrupt, each once."""
    global _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending = None
    previous = {signum: signal.signal(signum, _on_signal) for signum in HANDLED}
    hook = sys.unraisablehook

    def quiet_when_stopped(unraisable: Any) -> None:  # a swallowed Stopped is raised again, not printed
        if not isinstance(unraisable.exc_value, (Stopped, KeyboardInterrupt)):
            hook(unraisable)

    sys.unraisablehook = quiet_when_stopped
    try:
        yield
        raise_if_stopped()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook
        _pending = None
