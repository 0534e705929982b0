"""uvicorn for ``smtpauth serve``: SIGTERM/SIGINT stop the server and return, so the jobs can be shut down.

uvicorn re-raises a captured signal after its own shutdown, which would end the process before the running jobs
were given their grace time or marked interrupted; this server only records it.
"""

import contextlib
import signal
import threading
from collections.abc import Iterator

import uvicorn

__all__ = ["ServiceServer"]


class ServiceServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
