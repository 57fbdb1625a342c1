"""`manage.py check --deploy` passes with the documented production settings (docs/security.md), and only then."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.database_agnostic

ROOT = Path(__file__).resolve().parents[2]

# The production environment of docs/security.md ("Production settings"), behind one TLS proxy.
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k3y-only-for-this-test-" + "x7Qp2" * 8,  # 63 characters, many distinct
    "DJANGO_ALLOWED_HOSTS": "chat.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
    "DJANGO_WS_ALLOWED_ORIGINS": "https://chat.example.com",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_SECURE_COOKIES": "1",
    "DJANGO_TRUSTED_PROXY_COUNT": "1",
}


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Nothing from the suite's or the developer's own DJANGO_* settings leaks in (nor a .env: the
    # settings read it without overwriting, so every name it could set is given here).
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "chatsite.settings", "DJANGO_LOG_LEVEL": "WARNING", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_documented_production_settings_pass_the_deploy_check() -> None:
    done = check_deploy(PRODUCTION)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNINGS" not in output and "ERRORS" not in output
    assert "no issues" in output


def test_the_development_defaults_fail_the_deploy_check() -> None:
    done = check_deploy({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": PRODUCTION["DJANGO_SECRET_KEY"]})
    output = done.stdout + done.stderr
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output


@pytest.mark.parametrize(
    ("left_out", "warnings"),
    [
        ("DJANGO_SECURE_SSL_REDIRECT", ["security.W008"]),
        ("DJANGO_SECURE_HSTS_SECONDS", ["security.W004"]),
        ("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", ["security.W005"]),
        ("DJANGO_SECURE_HSTS_PRELOAD", ["security.W021"]),
        ("DJANGO_SECURE_COOKIES", ["security.W012", "security.W016"]),
    ],
)
def test_each_production_setting_is_the_one_that_silences_its_warning(left_out: str, warnings: list[str]) -> None:
    done = check_deploy({k: v for k, v in PRODUCTION.items() if k != left_out})
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert sorted(re.findall(r"\((security\.W\d+)\)", output)) == warnings


def test_a_short_secret_key_fails_the_deploy_check() -> None:
    done = check_deploy({**PRODUCTION, "DJANGO_SECRET_KEY": "short-secret"})
    assert done.returncode != 0
    assert "security.W009" in done.stdout + done.stderr


@pytest.mark.django_db
def test_with_https_redirect_on_health_checks_are_still_answered_over_http(client: Client, settings: Any) -> None:
    """Load balancers probe the workers over plain http: a redirect would mark them all down."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/").status_code == 301
    assert client.get("/healthz").status_code == 200
