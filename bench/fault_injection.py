"""Killing the stack's servers and the worker, and starting them again, for the faults bench.

Each fault is a SIGKILL (no chance to finish a request or write a last byte) and a start
on the same port and data, as a supervisor (systemd's Restart=) would do it: slapd (the
pid in its pidfile), Mailman (the master and every runner of the instance), Redmine (puma's
master, the pid in its pid file, and its workers: the master's process group) and the
provisioning worker, a real `provisioner
worker` process, replaced by a new one. Each private server's `stop()` after the kill
only reaps what is left; its `start()` serves again on its port and its folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from processes import environment_for
from services import Services

FAULTS = ("slapd", "mailman", "redmine", "worker")
PROVISIONER = Path(sys.executable).parent / "provisioner"


class WorkerProcess:
    """`provisioner worker` (not --once) on the portal's settings, its output in `log_path`."""

    def __init__(self, settings: dict, log_path: Path):
        self.settings, self.log_path = settings, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([str(PROVISIONER), "worker"], env=environment_for(self.settings),
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.started += 1

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no run is finished, no lease given back."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the worker exited by itself (rc {self.process.returncode}): "
                               f"{self.log_path.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        """SIGTERM: the worker finishes its run, then exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Fault:
    """One kill and restart, in seconds from the start of the faulted run."""

    name: str
    planned_at: float
    killed_at: float | None = None
    back_at: float | None = None
    during_run: bool = False         # the jobs were not all finished when it struck

    def as_dict(self) -> dict:
        down = None if self.killed_at is None or self.back_at is None else self.back_at - self.killed_at
        return {"name": self.name, "planned_at": round(self.planned_at, 1),
                "killed_at": _rounded(self.killed_at), "back_at": _rounded(self.back_at),
                "down_seconds": _rounded(down), "during_run": self.during_run}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _kill_pid_in(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(path.read_text().split()[0]), signal.SIGKILL)


def _kill_process_group_of_pid_in(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.killpg(os.getpgid(int(path.read_text().split()[0])), signal.SIGKILL)


class FaultInjector:
    """Kills one of FAULTS and starts it again, on the stack's services and the worker."""

    def __init__(self, services: Services, worker: WorkerProcess):
        self.services, self.worker = services, worker

    def strike(self, fault: Fault, started: float) -> None:
        """Kill and restart `fault.name`, recording when (seconds after `started`)."""
        fault.killed_at = time.monotonic() - started
        getattr(self, f"_{fault.name}")()
        fault.back_at = time.monotonic() - started

    def _slapd(self) -> None:
        slapd = self.services.slapd
        _kill_pid_in(slapd.folder / "slapd.pid")
        slapd.stop()
        slapd.start()

    def _mailman(self) -> None:
        mailman = self.services.mailman
        for pid in mailman.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        mailman.stop()
        mailman.start()

    def _redmine(self) -> None:
        redmine = self.services.redmine
        _kill_process_group_of_pid_in(redmine.pid_file)
        redmine.stop()
        redmine.start()

    def _worker(self) -> None:
        self.worker.kill()
        self.worker.start()
