"""The storage package stays split by aggregate: no module grows back into one big store."""

from __future__ import annotations

from pathlib import Path

import kcrush_bot.storage

MAX_LINES = 500


def test_no_storage_module_is_over_500_lines() -> None:
    package = Path(kcrush_bot.storage.__file__).parent
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in package.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
