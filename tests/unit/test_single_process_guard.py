"""A production worker without Redis refuses to serve, unless one process is asked for; manage.py still works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT, free_port, wait_for_port

REFUSAL = "no Redis is configured (REDIS_URL, or REDIS_SENTINELS) and DJANGO_DEBUG is off"


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Production mode, no Redis, and nothing from the suite's or a developer's own settings (nor .env's)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "CHAT_", "REDIS_")) and k != "DATABASE_URL"
    }
    return {
        **base,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "guard-test-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "REDIS_URL": "",
        "CHAT_SINGLE_PROCESS": "",
        **extra,
    }


def serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chat.serve", "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_production_worker_without_redis_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    proc = serve(production_env(tmp_path), free_port())
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert REFUSAL in out and "CHAT_SINGLE_PROCESS=1" in out, out
    assert "Traceback" not in out, "the operator gets the reason in one line, not a stack"


def test_a_production_worker_without_redis_starts_when_single_process_is_asked_for(tmp_path: Path) -> None:
    port = free_port()
    proc = serve(production_env(tmp_path, CHAT_SINGLE_PROCESS="1"), port)
    try:
        wait_for_port(port, timeout=60, proc=proc)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert REFUSAL not in out, out


def test_any_asgi_server_importing_the_application_gets_the_refusal(tmp_path: Path) -> None:
    """Plain daphne or uvicorn import chatsite.asgi: the refusal is there, not only in chat.serve."""
    done = subprocess.run(
        [sys.executable, "-c", "import chatsite.asgi"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and REFUSAL in done.stderr, done.stderr


def test_debug_mode_without_redis_still_serves_as_make_run_does(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import chatsite.asgi"],
        cwd=ROOT,
        env=production_env(tmp_path, DJANGO_DEBUG="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_management_commands_run_in_production_mode_without_redis(tmp_path: Path) -> None:
    """Only serving refuses: a release's migrate, collectstatic and check run before Redis is reachable."""
    env = production_env(tmp_path)
    for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"], ["check"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (command, done.stdout + done.stderr)
    assert (tmp_path / "static" / "staticfiles.json").exists()
