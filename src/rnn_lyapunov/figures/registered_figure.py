"""Everything the registry knows about one figure (:class:`RegisteredFigure`), as the workflow uses it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.figures.inputs import FIGURE_INPUTS, FigureInput


@dataclass(frozen=True)
class RegisteredFigure:
    """Everything known about one figure. ``draw`` is the wrapped function (prepares and checks)."""

    name: str
    function: Callable = field(repr=False)
    draw: Callable = field(repr=False)
    needs: str
    variables: tuple[str, ...]
    caption: str = field(repr=False)
    options: tuple[str, ...] = ()
    table: Callable | None = field(default=None, repr=False)
    table_caption: str | None = field(default=None, repr=False)
    source: str = ""
    default: bool = True
    drawn_from_table: bool = False

    @property
    def input(self) -> FigureInput:
        return FIGURE_INPUTS[self.needs]

    def load(self, path):
        """The figure's input read from ``path`` and prepared (derived quantities added)."""
        return self.input.prepare(self.input.load(path))

    def prepare(self, dataset):
        """``dataset`` with derived quantities added, checked for ``variables``."""
        dataset = self.input.prepare(dataset)
        self.input.check(dataset, self.variables, self.name)
        return dataset

    def make_table(self, data, /, **options):
        """The figure's table (a ``pandas.DataFrame``); InputError when it declares none."""
        if self.table is None:
            raise InputError(f"figure {self.name!r} declares no table ({self.source}).")
        return self.table(self.prepare(data), **options)

    def outputs(self) -> tuple[str, ...]:
        """File names it produces: ``<name>.png``, ``<name>.pdf`` and ``<name>.csv`` with a table."""
        return (f"{self.name}.png", f"{self.name}.pdf") + ((f"{self.name}.csv",) if self.table else ())

    def summary(self) -> str:
        """The caption's bold title (or else its first sentence) without reST markup, for listings."""
        text = " ".join(self.caption.split())
        title = re.match(r"\*\*(.+?)\*\*", text)
        text = title.group(1) if title else text.split(". ")[0]
        return text.replace("``", "").rstrip(".")
