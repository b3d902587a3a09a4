"""A booted Debian 12 host for the deploy tests: its own systemd under systemd-nspawn, reached over ssh.

The root is debootstrapped once (systemd, dbus, openssh-server, python3) into a golden
copy kept between sessions for a week, then copied for each host. The container shares
this machine's network, so its sshd, and every service the test's inventory deploys,
listens on a free loopback port the test chooses; a policy-rc.d keeps packages from
starting their services on install with their default ports (25, 80, 5432... may be
taken here, or by another test's container), so each role must start what it installs,
as the tests then check. See ../shared/RECIPES.md, "A booted Debian with its own systemd".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3")
GOLDEN_CACHE = Path("/var/cache/occupy-provisioner/deploy-roots")
GOLDEN_MAX_AGE_DAYS = 7
BOOT_TIMEOUT = 120
# The longest a container may live: a test session that dies leaves no container behind.
LIFETIME_SECONDS = 3 * 3600
STOP_GRACE_SECONDS = 15
# In a host's folder while its container may run: its root must not be removed.
RUNNING = "RUNNING"
# Every port handed out in this session: hosts deploy side by side, and a port one of
# them was given may not be listened on yet when the next host's are chosen.
_HANDED_OUT: set[int] = set()
# Well above the services' usual ports (LDAP 389/636, PostgreSQL 5432, Redmine 3000...).
_SESSION_PORTS_START = 20000


def session_port() -> int:
    """A loopback port free now and never handed out before in this session.

    It is chosen below the kernel's ephemeral range, where no outgoing connection and no
    other test's free_port() lands, so nothing else on this machine takes it in the minutes
    between choosing it and the deployed service listening on it.
    """
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(_SESSION_PORTS_START, ephemeral_start)  # noqa: S311 (not a secret)
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.add(port)
            return port


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tool(name: str) -> str:
    found = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise RuntimeError(f"{name} is not installed: make test-deploy installs it")
    return found


def debian_mirror() -> str:
    """The Debian archive this machine's apt already uses (the only one reachable)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        match = re.search(r"^URIs:\s*(\S+)", path.read_text(), re.M)
        if match and "security" not in match.group(1):
            return match.group(1)
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if path.is_file():
            match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", path.read_text(), re.M)
            if match:
                return match.group(1)
    raise RuntimeError("no Debian mirror in /etc/apt: cannot debootstrap")


def debian_sources() -> list[Path]:
    """The host's apt sources that name only Debian archives (bookworm, -updates, -security)."""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list")),
                  *sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]
    found = []
    for path in candidates:
        if not path.is_file():
            continue
        text = path.read_text()
        uris = re.findall(r"^URIs:\s*(.+)$", text, re.M) + re.findall(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M)
        uris = [uri for line in uris for uri in line.split()]
        if uris and all(re.match(r"https?://[^/]*debian[^/]*/debian(-security)?/?$", uri) for uri in uris):
            found.append(path)
    if not found:
        raise RuntimeError("no Debian archive in /etc/apt: cannot make a Debian root")
    return found


@contextlib.contextmanager
def golden_root() -> Iterator[Path]:
    """The cached debootstrapped root, made when missing or older than a week; while the
    caller copies it, another session may use it too but not replace it."""
    sources = debian_sources()
    key = hashlib.sha256(repr((PACKAGES, [path.read_text() for path in sources])).encode()).hexdigest()[:12]
    golden = GOLDEN_CACHE / f"bookworm-booted-{key}"
    GOLDEN_CACHE.mkdir(parents=True, exist_ok=True)
    with open(GOLDEN_CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fresh = golden.is_dir() and time.time() - golden.stat().st_mtime < GOLDEN_MAX_AGE_DAYS * 86400
        if not fresh:
            building = GOLDEN_CACHE / f".building-{key}"
            for stale in (building, *GOLDEN_CACHE.glob("bookworm-booted-*")):  # older sources' too
                if stale.exists():
                    shutil.rmtree(stale)
            _debootstrap(building, sources)
            building.rename(golden)
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield golden


def _debootstrap(root: Path, sources: list[Path]) -> None:
    result = subprocess.run(
        [_tool("debootstrap"), "--variant=minbase", f"--include={','.join(PACKAGES)}", "bookworm", str(root),
         debian_mirror()], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"debootstrap failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")
    # The host's sources, so that packages from bookworm-updates and -security install too.
    (root / "etc" / "apt" / "sources.list").unlink(missing_ok=True)
    for path in sources:
        shutil.copy(path, root / "etc" / "apt" / path.relative_to("/etc/apt"))
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    updated = subprocess.run([_tool("systemd-nspawn"), "-q", "-D", str(root), "--register=no", "--keep-unit",
                              "apt-get", "update", "-qq"], capture_output=True, text=True, check=False)
    if updated.returncode != 0:
        raise RuntimeError(f"apt-get update in the new root failed: {updated.stderr[-1500:]}")
    policy = root / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# Packages start no service on install: the host's network is shared"
                      " (see tests/deploy/booted_host.py).\nexit 101\n")
    policy.chmod(0o755)


class BootedHost:
    """A copy of the golden root, booted, with an sshd on a free loopback port for a test key."""

    def __init__(self, folder: Path, hostname: str):
        self.folder = folder
        self.root = folder / "root"
        self.hostname = hostname
        self.ssh_port = session_port()
        self.key = folder / "id_ed25519"
        self.known_hosts = folder / "known_hosts"
        self.console_log = folder / "console.log"
        self._nspawn: subprocess.Popen | None = None
        self._init_pid: int | None = None

    def __enter__(self) -> BootedHost:
        self.prepare()
        try:
            self.boot()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self.remove()

    def prepare(self) -> None:
        """The root copied and named; its own host keys; root's ssh access for the test key only."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with golden_root() as golden:
            subprocess.run(["cp", "-a", str(golden), str(self.root)], check=True)
        etc = self.root / "etc"
        (etc / "hostname").write_text(f"{self.hostname}\n")
        (etc / "hosts").write_text(f"127.0.0.1\tlocalhost {self.hostname}\n"
                                   "::1\tlocalhost ip6-localhost ip6-loopback\n")
        shutil.copy("/etc/resolv.conf", etc / "resolv.conf")
        for old in (etc / "ssh").glob("ssh_host_*"):
            old.unlink()
        subprocess.run([_tool("ssh-keygen"), "-q", "-A", "-f", str(self.root)], check=True,
                       capture_output=True)
        (etc / "ssh" / "sshd_config.d" / "deploy-test.conf").write_text(
            f"Port {self.ssh_port}\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n")
        subprocess.run([_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "deploy-test",
                        "-f", str(self.key)], check=True)
        ssh_dir = self.root / "root" / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        authorized = ssh_dir / "authorized_keys"
        authorized.write_text(self.key.with_suffix(".pub").read_text())
        authorized.chmod(0o600)
        host_key = (etc / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.ssh_port} {host_key[0]} {host_key[1]}\n")

    def boot(self) -> None:
        """Start the container in the background; return once its systemd is up and sshd answers."""
        (self.folder / RUNNING).touch()
        with open(self.console_log, "w") as console:
            self._nspawn = subprocess.Popen(
                [_tool("timeout"), "--kill-after=10", str(LIFETIME_SECONDS), _tool("systemd-nspawn"),
                 "-D", str(self.root), "-b", "--register=no", "--keep-unit", "--console=passive"],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + BOOT_TIMEOUT
        state = ""
        while time.monotonic() < deadline:
            if self._nspawn.poll() is not None:
                raise RuntimeError(f"the container exited ({self._nspawn.returncode}): "
                                   f"{self.console_log.read_text()[-3000:]}")
            if self._init_pid is None:
                self._init_pid = self._find_init()
            if self._init_pid is not None:
                state = self.run("systemctl", "is-system-running").stdout.strip()
                if state in ("running", "degraded") and self.ssh("true").returncode == 0:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"the container did not boot in {BOOT_TIMEOUT} s (systemd: "
                           f"{state or 'not started'}): {self.console_log.read_text()[-3000:]}")

    def _find_init(self) -> int | None:
        """The container's PID 1: the `systemd` child of the systemd-nspawn process."""
        nspawn = _children(self._nspawn.pid)
        for pid in (child for parent in nspawn for child in _children(parent)):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return pid
            except OSError:
                continue
        return None

    def run(self, *argv: str, input: str | None = None, timeout: float = 120
            ) -> subprocess.CompletedProcess:
        """A command inside the booted container (every namespace of its PID 1), as root."""
        assert self._init_pid is not None, "the container is not booted"
        return subprocess.run([_tool("nsenter"), "-t", str(self._init_pid), "-a", *argv], input=input,
                              capture_output=True, text=True, check=False, timeout=timeout)

    def ssh_options(self) -> list[str]:
        return ["-i", str(self.key), "-p", str(self.ssh_port), "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes"]

    def ssh(self, *command: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["ssh", *self.ssh_options(), "root@127.0.0.1", *command], input=input,
                              capture_output=True, text=True, check=False, timeout=120)

    def ansible_vars(self) -> dict:
        """How Ansible reaches this host: over ssh, as root, with the test key."""
        return {"ansible_host": "127.0.0.1", "ansible_port": self.ssh_port, "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.key),
                "ansible_ssh_common_args":
                    f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes"}

    def stop(self) -> None:
        """An orderly shutdown (SIGTERM to systemd-nspawn), then SIGKILL after a grace period."""
        if self._nspawn is None:
            return
        nspawn = _children(self._nspawn.pid)
        for pid in nspawn:
            _signal(pid, signal.SIGTERM)
        try:
            self._nspawn.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            # Killing the container's PID 1 ends every process in its namespace.
            for pid in [self._init_pid, *nspawn, self._nspawn.pid]:
                if pid is not None:
                    _signal(pid, signal.SIGKILL)
            self._nspawn.wait(timeout=30)
        if self._init_pid is not None:
            deadline = time.monotonic() + 30
            while Path(f"/proc/{self._init_pid}").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the container's PID 1 ({self._init_pid}) outlived its nspawn")
                time.sleep(0.1)
        self._nspawn = None
        (self.folder / RUNNING).unlink()

    def remove(self) -> None:
        """The root goes only once its container has exited."""
        if self._nspawn is not None or (self.folder / RUNNING).exists():
            raise RuntimeError("the container may still run: stop it first")
        shutil.rmtree(self.folder, ignore_errors=True)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()]
    except OSError:
        return []


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
