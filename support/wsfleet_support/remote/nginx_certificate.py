"""Run on an NGINX edge host of a local fleet with its python3 (the standard library only), for
bench/nginx_certificate.py: the certificate loaded once per reload, as the nginx role writes it,
or at every TLS handshake (`ssl_certificate` with a variable), which is what a renewal with no
reload would need.

    python3 nginx_certificate.py per-handshake CERTIFICATE KEY   the variable form, NGINX restarted
    python3 nginx_certificate.py static                          the role's file back, restarted
    python3 nginx_certificate.py refresh CERTIFICATE KEY         the per-handshake copies renewed

With a variable, each worker reads the files itself, as its unprivileged user (www-data): the
copies it reads (in PER_HANDSHAKE_DIR, group www-data, mode 0640) stand for what that would need
of the certificate's key. The role's nginx.conf is kept beside it and put back by `static`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

CONFIG = Path("/etc/nginx/nginx.conf")
SAVED = Path("/etc/nginx/nginx.conf.wsfleet-static")
PER_HANDSHAKE_DIR = Path("/etc/ssl/wsfleet-per-handshake")
WORKER_GROUP = "www-data"
# Variables NGINX resolves at every handshake: a map with only a default.
MAPS = (
    "    map $ssl_server_name $wsfleet_certificate {{ default {certificate}; }}\n"
    "    map $ssl_server_name $wsfleet_certificate_key {{ default {key}; }}\n"
)


def copy_for_workers(certificate: str, key: str) -> tuple[Path, Path]:
    """The certificate and key where NGINX's workers can read them."""
    PER_HANDSHAKE_DIR.mkdir(mode=0o750, exist_ok=True)
    copies = (PER_HANDSHAKE_DIR / "fullchain.pem", PER_HANDSHAKE_DIR / "privkey.pem")
    for source, copy in zip((certificate, key), copies, strict=True):
        shutil.copyfile(source, copy)
        shutil.chown(copy, group=WORKER_GROUP)
        os.chmod(copy, 0o640)
    shutil.chown(PER_HANDSHAKE_DIR, group=WORKER_GROUP)
    return copies


def per_handshake_config(text: str, certificate: Path, key: str | Path) -> str:
    """The role's nginx.conf with its certificate and key read at every handshake."""
    text = re.sub(
        r"(?m)^(\s*)ssl_certificate \S+;", r"\1ssl_certificate $wsfleet_certificate;", text
    )
    text = re.sub(
        r"(?m)^(\s*)ssl_certificate_key \S+;",
        r"\1ssl_certificate_key $wsfleet_certificate_key;",
        text,
    )
    maps = MAPS.format(certificate=certificate, key=key)
    return re.sub(r"(?m)^http \{\n", lambda match: match.group(0) + maps, text, count=1)


def restart_checked() -> None:
    subprocess.run(["nginx", "-t", "-q"], check=True)
    subprocess.run(["systemctl", "restart", "nginx.service"], check=True)


def per_handshake(certificate: str, key: str) -> None:
    if not SAVED.exists():
        shutil.copyfile(CONFIG, SAVED)
    copies = copy_for_workers(certificate, key)
    CONFIG.write_text(per_handshake_config(SAVED.read_text(), *copies))
    restart_checked()


def static() -> None:
    if SAVED.exists():
        shutil.copyfile(SAVED, CONFIG)
        SAVED.unlink()
    shutil.rmtree(PER_HANDSHAKE_DIR, ignore_errors=True)
    restart_checked()


def main(argv: list[str]) -> int:
    command, *paths = argv
    if command == "per-handshake":
        per_handshake(*paths)
    elif command == "static":
        static()
    elif command == "refresh":
        copy_for_workers(*paths)
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
