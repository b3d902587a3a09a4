"""`provisioner demo` as someone trying the project runs it: every service up, the settings
in a private config.py that other commands use, everything stopped on SIGTERM."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from provisioner.private_services.mailman_web import golden_web
from provisioner.private_services.process import free_port
from provisioner.private_services.redmine import golden_database

START_TIMEOUT = 300      # Mailman's web parts, Mailman, DokuWiki and Redmine start one after the other
STOP_TIMEOUT = 90


def provisioner_command() -> str:
    command = shutil.which("provisioner", path=os.path.dirname(sys.executable))
    assert command, "the provisioner console script is not installed"
    return command


def without_settings() -> dict[str, str]:
    """This environment without any PROVISIONER_* variable, as on a fresh checkout."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PROVISIONER_")}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def processes_naming(folder: Path) -> list[str]:
    """The command lines of running processes that name `folder` (the demo's services do)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or (entry / "stat").read_text().split(") ")[-1][:1] == "Z":
                continue
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in command_line:
            found.append(command_line)
    return found


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def test_demo_help_names_its_options_without_a_configuration_error(tmp_path):
    result = subprocess.run([provisioner_command(), "demo", "--help"], env=without_settings(), cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--port" in result.stdout and "--folder" in result.stdout and "config.py" in result.stdout
    assert result.stderr == ""


@pytest.fixture
def demo_folder(request, tmp_path_factory):
    """A short folder holding Redmine's and mailman3-web's migrated databases (and the latter's
    static files) already, as a second `make demo` has them."""
    cache = getattr(request.config, "cache", None)
    golden = golden_database(cache.mkdir("redmine-golden") if cache else tmp_path_factory.mktemp("golden"))
    web = golden_web(cache.mkdir("mailman-web-golden") if cache else tmp_path_factory.mktemp("web-golden"))
    folder = Path(tempfile.mkdtemp(prefix="demo-"))    # short: the ldapi socket path must stay short
    (folder / "cache").mkdir()
    shutil.copyfile(golden, folder / "cache" / golden.name)
    shutil.copytree(web.database.parent, folder / "cache" / web.database.parent.name)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_demo_runs_every_service_shares_its_settings_privately_and_stops_everything(demo_folder):
    # A config.py from an older demo, readable by everyone: it must not keep its mode.
    old_config = demo_folder / "config.py"
    old_config.write_text("# an older demo's\n")
    old_config.chmod(0o644)
    port, log_path = free_port(), demo_folder / "demo.log"
    with open(log_path, "wb") as log:
        command = [provisioner_command(), "demo", "--folder", str(demo_folder), "--port", str(port)]
        demo = subprocess.Popen(command, cwd=demo_folder, env=without_settings(), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not healthy(port):
            assert demo.poll() is None, f"the demo exited: {log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, (
                f"no portal after {START_TIMEOUT} s: {log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        output = log_path.read_text()
        assert "not offered" not in output, output
        for service in ("Mailman: http://127.0.0.1:", "DokuWiki: http://127.0.0.1:", "Redmine: http://127.0.0.1:",
                        "Archives and list pages: http://127.0.0.1:"):
            assert service in output
        assert f"PROVISIONER_CONFIG=config.py {provisioner_command()} ..." in output

        config, hosts = demo_folder / "config.py", demo_folder / "inventory" / "hosts.yml"
        assert (mode(config), mode(hosts)) == (0o600, 0o600)
        assert "LDAP_BIND_PASSWORD = " in config.read_text()
        # The account page links each group's archive there, and it answers.
        printed = re.search(r"Archives and list pages: (http://127\.0\.0\.1:\d+)/hyperkitty/", output)
        archives = printed.group(1)
        assert f"ARCHIVES_URL = {archives!r}" in config.read_text()
        with urllib.request.urlopen(f"{archives}/hyperkitty/", timeout=30) as page:  # noqa: S310
            assert page.status == 200
        offered = yaml.safe_load(hosts.read_text())["all"]["hosts"]["localhost"]
        assert {"mailing_lists_password", "wiki_admin_password", "redmine_api_key"} <= set(offered)

        # Another command, pointed at the demo's settings, reaches the demo's directory.
        init = subprocess.run([provisioner_command(), "init-directory"], cwd=demo_folder,
                              env={**without_settings(), "PROVISIONER_CONFIG": "config.py"},
                              capture_output=True, text=True, timeout=60)
        assert init.returncode == 0, init.stderr
        assert "nothing to change" in init.stdout
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            demo.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
            pytest.fail(f"the demo did not stop within {STOP_TIMEOUT} s of SIGTERM")
    assert demo.returncode == 0, log_path.read_text()[-3000:]
    assert processes_naming(demo_folder) == []
