"""What the private services share: a free loopback port, and a server process we own.

A service subclass starts its process in `start()` (setting `_process`), says in
`_is_ours()` how to recognise its own server (a secret only it knows: another
process may hold the port), may say in `_has_failed()` that a process still
running will never serve (its log says the port is taken, say), and may change
how the process is told to stop.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from typing import Self


def free_port() -> int:
    """A port free on 127.0.0.1 now; the caller checks that its own server got it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnedProcess:
    start_timeout = 10.0
    stop_timeout = 10.0
    poll_interval = 0.02
    _process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def _is_ours(self) -> bool:
        raise NotImplementedError

    def _has_failed(self) -> bool:
        """True when the process runs but will never serve; it is then stopped."""
        return False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _wait_until_ours(self) -> bool:
        """True once our own server answers; False if it exited (a taken port, say) or never did."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                self._process = None
                return False
            if self._is_ours():
                return True
            if self._has_failed():
                break
            time.sleep(self.poll_interval)
        self._stop_process()
        return False

    def _terminate(self, process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        process.send_signal(sig)

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        self._terminate(process, signal.SIGTERM)
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self._terminate(process, signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        self._stop_process()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
