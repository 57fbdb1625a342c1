"""The deployed launcher (python -m chat.serve) really runs daphne on uvloop."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.servers import ROOT

pytestmark = pytest.mark.database_agnostic

PROBE = """
import runpy, sys
sys.argv = ["chat.serve", "--help"]
try:
    runpy.run_module("chat.serve", run_name="__main__")
except SystemExit:
    pass
import daphne.server
print(type(daphne.server.twisted_loop).__module__)
"""


def test_launcher_puts_daphne_on_uvloop() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "uvloop"
