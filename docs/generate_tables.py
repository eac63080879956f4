"""Rewrite the generated tables of the documentation from the code (run from the repository root).

    python docs/generate_tables.py

Each table sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in a page;
``tests/test_docs_claims.py`` fails when a page's table differs from what this script writes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def settings_table() -> str:
    from rnn_lyapunov.config.settings import settings_table as table

    return table()


def _subparser(name: str) -> argparse.ArgumentParser:
    from rnn_lyapunov.cli.commands import build_parser

    parser = build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return commands.choices[name]


def flags_table(command: str) -> str:
    """The options of ``rnn-lyapunov COMMAND`` as argparse knows them: flag, value and help (with its default)."""
    rows = ["| flag | value | meaning |", "| --- | --- | --- |"]
    for action in _subparser(command)._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS or "--help" in action.option_strings:
            continue
        flags = ", ".join(f"`{flag}`" for flag in action.option_strings)
        value = "" if action.nargs == 0 else f"`{action.metavar or action.dest.upper()}`"
        meaning = (action.help or "").replace("|", "\\|")
        if action.required:
            meaning += " (required)"
        rows.append(f"| {flags} | {value} | {meaning} |")
    return "\n".join(rows)


TABLES = {
    "settings.md": {"settings-table": settings_table},
    "command-line.md": {"spectrum-flags": lambda: flags_table("spectrum"), "train-flags": lambda: flags_table("train")},
}


def rewritten(text: str, name: str, table: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"no <!-- {name}:start --> ... <!-- {name}:end --> markers found")
    return pattern.sub(lambda match: match.group(1) + table + "\n" + match.group(2), text, count=1)


def main() -> int:
    for page, tables in TABLES.items():
        path = DOCS / page
        text = path.read_text(encoding="utf-8")
        for name, make in tables.items():
            text = rewritten(text, name, make())
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
