"""A throwaway CA and server certificates for 127.0.0.1, made with openssl, for TLS tests."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_certificates(folder: Path, *names: str, ca_name: str = "Test CA") -> Path:
    """folder/ca.crt, and <name>.crt + <name>.key for each name, valid for IP 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*argv: str) -> None:
        subprocess.run(["openssl", *argv], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={ca_name}",
            "-keyout", "ca.key", "-out", "ca.crt")
    for name in names:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr")
        (folder / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt")
    return folder / "ca.crt"
