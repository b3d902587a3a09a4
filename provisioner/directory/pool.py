"""Bound directory connections kept between a process's requests.

Opening a connection costs a TCP handshake and the portal's bind, which slapd checks
against an argon2 hash: as much server time as a volunteer's login. So a request takes
a connection that an earlier one bound, and gives it back when it ends; one at a time,
as ldap3's synchronous connections need. A connection the server dropped meanwhile
reopens on its next operation (DirectoryConnection does that for every connection).
"""

from __future__ import annotations

import os
import threading
import weakref

from . import Directory, DirectorySettings

# Idle connections kept per process: a gunicorn worker's threads (the portal role runs 8).
MAX_IDLE = 16


class DirectoryPool:
    def __init__(self, settings: DirectorySettings, max_idle: int = MAX_IDLE):
        self.settings = settings
        self._max_idle = max_idle
        self._idle: list[Directory] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        # A pool dropped with its app (tests make many) unbinds its connections then.
        weakref.finalize(self, _close_all, self._idle)

    def take(self) -> Directory:
        """An idle connection, or a new one (it connects on first use)."""
        with self._lock:
            self._forget_inherited()
            if self._idle:
                return self._idle.pop()
        return Directory(self.settings)

    def give_back(self, directory: Directory) -> None:
        """Keep it for the next request, or close it when enough are idle."""
        with self._lock:
            self._forget_inherited()
            if len(self._idle) < self._max_idle:
                self._idle.append(directory)
                return
        directory.close()

    def close(self) -> None:
        with self._lock:
            _close_all(self._idle)

    def _forget_inherited(self) -> None:
        """After a fork (gunicorn's workers), the parent's connections are not ours to use
        or unbind: two processes would interleave messages on one connection."""
        if os.getpid() != self._pid:
            for directory in self._idle:
                directory.abandon()
            self._idle.clear()
            self._pid = os.getpid()


def _close_all(idle: list[Directory]) -> None:
    while idle:
        idle.pop().close()
