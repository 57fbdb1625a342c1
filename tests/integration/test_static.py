"""Production static files: the page's ES modules import each other by their hashed names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT

pytestmark = pytest.mark.database_agnostic


def test_collected_modules_import_hashed_siblings(tmp_path: Path) -> None:
    env = {**os.environ, "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x", "DJANGO_STATIC_ROOT": str(tmp_path)}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    [room] = [p for p in (tmp_path / "chat").glob("room.*.js") if re.fullmatch(r"room\.[0-9a-f]{12}\.js", p.name)]
    imports = re.findall(r'from "\./([^"]+)"', room.read_text())
    assert imports, "room.js imports its sibling modules"
    assert all(re.fullmatch(r"[a-z]+\.[0-9a-f]{12}\.js", name) for name in imports), imports
