"""A service started without its tokens and without a terminal fails at once, naming them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from factories import REPO


def test_run_without_token_or_terminal_exits_2_naming_the_variables(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCRUSH_")}
    result = subprocess.run(
        [sys.executable, "-m", "kcrush_bot", "--db", str(tmp_path / "bot.db"), "run"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "KCRUSH_TELEGRAM_TOKEN" in result.stderr and "KCRUSH_DISCORD_TOKEN" in result.stderr
    assert "console" not in result.stdout.lower()  # no banner of a console nobody sees
    assert "Traceback" not in result.stderr
