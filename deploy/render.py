"""Render the cluster's nginx and supervisord configurations from deploy/templates/ into a run directory.

`python3 deploy/render.py --out DIR --workers 3` writes DIR/nginx.conf (the local cluster's nginx),
DIR/chat.nginx.conf (the site: upstream and server, for any nginx's http block) and
DIR/supervisord.conf. The worker count is the only thing both configurations must agree on, and
this is the one place that turns it into the upstream's servers and supervisor's processes.
Standard library only: it runs before the project's virtualenv has to exist.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import re
import sys
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
# One refused connection takes a worker out of nginx's rotation for this long; then one request
# tries it again. Loopback refuses at once, so a short window costs nothing and a restarted worker
# is back in the rotation soon after it answers /readyz (`deploy/cluster roll` waits this long).
FAIL_TIMEOUT_SECONDS = 2


def render(template: str, values: dict[str, str]) -> str:
    """Fill every @NAME@ (nginx owns $name, supervisor %(name)s); an unknown name is an error."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{name} is not a value this script renders")
        return values[name]

    return PLACEHOLDER.sub(fill, template)


def run_as_lines() -> tuple[str, str]:
    """nginx's `user` and supervisord's `user=`: only meaningful (and only written) when started as root."""
    if os.geteuid() != 0:
        return "# (not root: the workers run as whoever starts nginx)", "; (not root: runs as whoever starts it)"
    user, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    # Started as root, nginx would hand its workers to `nobody`, who cannot write the run directory.
    return f"user {user} {group};", f"user={user}"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the run directory")
    parser.add_argument("--workers", type=int, required=True, help="how many daphne workers (CHAT_WORKERS)")
    parser.add_argument("--first-port", type=int, default=8101, help="the first worker's port; the others follow")
    parser.add_argument("--worker-host", default="127.0.0.1", help="where nginx finds the workers")
    parser.add_argument("--listen", default="127.0.0.1:8080", help="nginx's listen address")
    parser.add_argument("--server-name", default="_", help="nginx's server_name")
    parser.add_argument("--static-root", type=Path, required=True, help="collectstatic's output (STATIC_ROOT)")
    parser.add_argument("--log-dir", type=Path, help="where nginx, supervisord and the workers log (default: OUT/logs)")
    parser.add_argument("--python", default=sys.executable, help="the virtualenv's python, for supervisord")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 64:
        parser.error(f"--workers must be 1 to 64, not {args.workers}")

    out: Path = args.out.resolve()
    log_dir: Path = (args.log_dir or out / "logs").resolve()
    ports = range(args.first_port, args.first_port + args.workers)
    nginx_user, supervisord_user = run_as_lines()
    values = {
        "RUN_DIR": str(out),
        "LOG_DIR": str(log_dir),
        "ROOT": str(ROOT),
        "PYTHON": args.python,
        "WORKERS": str(args.workers),
        "FIRST_PORT": str(args.first_port),
        "UPSTREAM_SERVERS": "\n".join(
            f"    server {args.worker_host}:{port} max_fails=1 fail_timeout={FAIL_TIMEOUT_SECONDS}s;" for port in ports
        ),
        "LISTEN": args.listen,
        "SERVER_NAME": args.server_name,
        "STATIC_ROOT": str(args.static_root.resolve()),
        "NGINX_USER": nginx_user,
        "SUPERVISORD_USER": supervisord_user,
    }
    for folder in (log_dir, out / "nginx-temp"):
        folder.mkdir(parents=True, exist_ok=True)
    for name in ("nginx.conf", "chat.nginx.conf", "supervisord.conf"):
        (out / name).write_text(render((TEMPLATES / name).read_text(), values))


if __name__ == "__main__":
    main(sys.argv[1:])
