"""Code blocks of README.md, by the name on their first line (``# file: X`` / ``# example: X``)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str | None = None) -> list[tuple[str, str]]:
    """(language, code) of every fenced block, in order."""
    found = [(m.group(1), m.group(2)) for m in FENCE.finditer(README.read_text())]
    return [b for b in found if language is None or b[0] == language]


def named(name: str) -> str:
    """The Python block whose first line names it."""
    for _, code in blocks("python"):
        first = code.splitlines()[0]
        if first in {f"# file: {name}", f"# example: {name}"}:
            return code
    raise KeyError(name)


def shell_commands() -> list[str]:
    """The two commands at the top of the README (setup-and-run main job, tests)."""
    return [code.strip() for _, code in blocks("sh")][:2]
