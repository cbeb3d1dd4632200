"""Every import arrow points down: the import-linter contracts in ``pyproject.toml``.

``cli`` > ``app.main`` > ``app.api`` > ``app.runtime`` > ``app.services`` >
``app.jobs`` | ``app.index`` > the core modules > ``ml``; ``ml`` imports nothing of the
service; ``worker/`` is reached only through the job runner; no two sibling packages
or modules import each other. ``lint-imports`` (from the repository root) says which
import broke which contract.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    script = Path(sys.executable).with_name("lint-imports")
    assert script.is_file(), "import-linter is missing: pip install -e '.[dev]'"
    done = subprocess.run(
        [str(script), "--no-cache"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
