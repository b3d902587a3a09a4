"""What the benchmarks need to run the project's own processes: their settings as
PROVISIONER_* variables (the environment, never the command line, as some are
secrets), the peak memory Linux recorded for a process, and the CPU time the whole
machine has spent."""

from __future__ import annotations

import os
from pathlib import Path


def environment_for(settings: dict) -> dict[str, str]:
    """This process's environment plus the settings, as the portal's config reads them."""
    def text(value) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return {**os.environ, **{f"PROVISIONER_{name}": text(value) for name, value in settings.items()}}


def peak_rss_mb(pid: int | str = "self") -> float:
    """VmHWM: the largest resident set the process has had, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def machine_cpu_seconds() -> float:
    """CPU time every core has spent busy (any process, the kernel's interrupts included)
    since the machine booted, from /proc/stat's first line."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
