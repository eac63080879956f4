"""The Markdown pages whose examples the tests run: README.md and docs/**/*.md, and their code blocks.

A ```python block is run by tests/test_docs_snippets.py unless an HTML comment right before it says
otherwise (only blank lines between):

* ``<!-- no-run: REASON -->``: not run (the reason says where it is tested instead; keep these rare);
* ``<!-- setup: CODE -->``: CODE runs first, in the same namespace and working directory (to make the
  files an example reads, such as a saved state dict), without being shown on the page;
* ``<!-- continue -->``: runs after the page's previous Python block, in one namespace (an example
  that uses what the one before it defined).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
# the HTML comments directly above a fence (blank lines allowed between them)
MARKERS = re.compile(r"((?:<!--(?:(?!-->).)*-->\s*)+)\Z", re.S)


def pages() -> list[Path]:
    """README.md and every page under docs/, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the block's first code line
    code: str
    setup: str = ""
    no_run: str | None = None
    continues: bool = False

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def python_blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        before = MARKERS.search(text[:match.start()].rstrip())
        comments = re.findall(r"<!--(.*?)-->", before.group(1), re.S) if before else []
        setup, no_run, continues = "", None, False
        for comment in comments:
            kind, _, body = comment.strip().partition(":")
            if kind == "setup":
                setup += body.strip("\n") + "\n"
            elif kind == "no-run":
                no_run = body.strip()
            elif comment.strip() == "continue":
                continues = True
        line = text.count("\n", 0, match.start(1)) + 1
        blocks.append(Block(page, line, match.group(1), setup, no_run, continues))
    return blocks


def block_containing(page: Path, text: str) -> Block:
    """The page's one Python block that contains ``text`` (a test's handle on an example)."""
    found = [block for block in python_blocks(page) if text in block.code]
    assert len(found) == 1, f"{page.relative_to(ROOT)}: {len(found)} Python blocks contain {text!r}, expected 1"
    return found[0]
