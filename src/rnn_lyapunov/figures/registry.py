"""The figure registry: adding a figure is adding one module with ``@register_figure``.

A figure is a function ``(dataset: xr.Dataset, **options) -> matplotlib.figure.Figure``, registered
where it is defined, with everything the workflow and the report need beside it::

    @register_figure(
        "my_figure",                       # file stem: results/figures/my_figure.png and .pdf
        needs="sweep",                     # its input: "sweep" or "validation" (see FIGURE_INPUTS)
        variables=("lyapunov_exponents", "val_loss"),   # checked before drawing, named when absent
        caption=CAPTION,                   # reStructuredText, shown under the figure in the report
        options=("early_epoch",),          # optional: keys of the config section `figures` it takes
        table=my_table,                    # optional: (dataset, **options) -> DataFrame, -> my_figure.csv
        default=True,                      # optional: False = drawn only when listed in figures.extra
    )
    def my_figure(sweep, *, early_epoch=0): ...

The decorator returns the function wrapped so that every call, from Python or from the workflow,
first prepares its input (for ``needs="sweep"``:
:func:`rnn_lyapunov.analysis.sweep_data.with_derived_quantities`) and checks ``variables``.

Discovery is lazy (the first :func:`available_figures`, :func:`get_figure` or
:func:`describe_figures` call) and happens once. Figures come from

1. every module of the package ``rnn_lyapunov.figures`` (scanned; there is no hand-kept list);
2. the entry-point group ``rnn_lyapunov.figures`` of installed distributions: the value names a
   module (or ``module:attribute``) that registers its figures when imported, e.g. in the
   third-party package's ``pyproject.toml``::

       [project.entry-points."rnn_lyapunov.figures"]
       my_figure = "my_package.my_figure"

The workflow draws the *default* figures (``default=True``, the general ones) plus those named in
the config list ``figures.extra`` (:func:`workflow_figures`); a figure made for one experiment
registers with ``default=False``. Every figure can still be drawn by name.

A module that fails to import emits a :class:`FigureLoadWarning` and is skipped, so one broken
figure does not take the others down. Registration refuses (with
:class:`FigureRegistrationError`) a name already registered elsewhere, naming both places, an
unknown ``needs``, an empty caption, and options the function does not accept.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import warnings
from dataclasses import dataclass, field
from typing import Callable

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.plugin_discovery import import_package_modules, load_entry_points, same_definition, source_of

FIGURE_PACKAGE = "rnn_lyapunov.figures"
ENTRY_POINT_GROUP = "rnn_lyapunov.figures"
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class FigureLoadWarning(RuntimeWarning):
    """A figure module could not be imported; its figures were skipped."""


class FigureRegistrationError(InputError):
    """A figure was refused at registration (the message says why and how to fix it)."""


# --- inputs: what a figure may read -------------------------------------------------------------


def _load_sweep(path):
    from rnn_lyapunov.io.sweep_file import load_sweep  # imported here: reading a figure module needs no I/O code

    return load_sweep(path)


def _load_validation(path):
    from rnn_lyapunov.analysis.validation import load_validation

    return load_validation(path)


def _prepare_sweep(dataset):
    from rnn_lyapunov.analysis.sweep_data import with_derived_quantities

    return with_derived_quantities(dataset)


def _check_sweep(dataset, variables, figure):
    from rnn_lyapunov.analysis.sweep_data import require_variables

    require_variables(dataset, variables, figure)


def _check_validation(dataset, variables, figure):
    missing = [name for name in variables if name not in dataset.variables]
    if missing:
        raise InputError(
            f"figure {figure!r} needs the validation variables {missing}, which this dataset lacks; compute it "
            "with rnn_lyapunov.analysis.validation.compute_validation (workflow rule validate_engine)."
        )


@dataclass(frozen=True)
class FigureInput:
    """One kind of input a figure can read (the ``needs`` of :func:`register_figure`).

    ``load(path) -> Dataset`` opens the file; ``prepare(dataset) -> Dataset`` adds what can be
    derived (idempotent); ``check(dataset, variables, figure)`` raises InputError naming what lacks.
    """

    name: str
    description: str
    load: Callable
    prepare: Callable
    check: Callable


#: ``needs`` -> how to read it. The workflow maps each key to its file (workflow/rules/figures.smk).
FIGURE_INPUTS: dict[str, FigureInput] = {
    "sweep": FigureInput(
        "sweep", "the sweep of training runs (results/spectra/sweep.nc, load_sweep)",
        _load_sweep, _prepare_sweep, _check_sweep),
    "validation": FigureInput(
        "validation", "the engine validation (results/validation/validation.nc, load_validation)",
        _load_validation, lambda dataset: dataset, _check_validation),
}


# --- the registry -------------------------------------------------------------------------------


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


_REGISTRY: dict[str, RegisteredFigure] = {}
_discovered = False


def _keyword_names(function) -> tuple[set[str], bool]:
    """(names of keyword-usable parameters, whether it takes ``**kwargs``)."""
    parameters = inspect.signature(function).parameters.values()
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind is p.VAR_KEYWORD for p in parameters)


def _check_registration(name, function, needs, variables, caption, options, table, table_caption,
                        default=True, drawn_from_table=False) -> None:
    where = source_of(function) if callable(function) else repr(function)

    def refuse(reason: str):
        raise FigureRegistrationError(f"cannot register {where} as figure {name!r}: {reason}")

    if not callable(function):
        refuse("it is not a function (dataset, **options) -> matplotlib.figure.Figure")
    if needs not in FIGURE_INPUTS:
        refuse(f"unknown needs {needs!r}; a figure reads one of: {', '.join(FIGURE_INPUTS)}")
    if isinstance(variables, str) or not all(isinstance(item, str) for item in variables):
        refuse(f"variables must be a tuple of variable names, not {variables!r}")
    if not isinstance(caption, str) or not caption.strip():
        refuse("give it a caption (reStructuredText, shown under the figure in the report): caption='...'")
    if isinstance(options, str) or not all(isinstance(item, str) for item in options):
        refuse(f"options must be a tuple of names of keys of the config section 'figures', not {options!r}")
    if table is not None and not callable(table):
        refuse("table must be a function (dataset, **options) -> pandas.DataFrame")
    if table_caption is not None and (not isinstance(table_caption, str) or not table_caption.strip()):
        refuse("table_caption must be a non-empty string (or left out: the figure's caption)")
    if not isinstance(default, bool):
        refuse(f"default must be True (drawn by the default workflow) or False (only when listed in "
               f"figures.extra), not {default!r}")
    if drawn_from_table and (table is None or "table" not in _keyword_names(function)[0]):
        refuse("drawn_from_table=True needs a table function and a figure function with a keyword "
               "argument 'table' (the DataFrame the table function made)")
    for what, target in (("function", function), ("table", table)):
        if target is None:
            continue
        accepted, any_keyword = _keyword_names(target)
        unknown = [option for option in options if option not in accepted]
        if unknown and not any_keyword:
            refuse(f"its {what} does not take the option(s) {unknown} as keyword arguments")


def register_figure(name: str, *, needs: str, caption: str, variables=(), options=(), table=None,
                    table_caption: str | None = None, default: bool = True, drawn_from_table: bool = False):
    """Function decorator registering a figure under ``name`` (its file stem in results/figures/).

    Args:
        name: lowercase letters, digits and ``_``, starting with a letter.
        needs: the input it reads, a key of :data:`FIGURE_INPUTS` (``"sweep"`` or ``"validation"``).
        caption: reStructuredText caption for ``snakemake --report``.
        variables: the variables of the input it cannot draw without (after derived quantities
            are added); a dataset lacking one is refused with an InputError naming it.
        options: keys of the workflow config section ``figures`` passed to it (and to ``table``)
            as keyword arguments, e.g. ``("early_epoch",)``.
        table: optional ``(dataset, **options) -> pandas.DataFrame``, written as ``<name>.csv``.
        table_caption: the table's caption in the report (default: ``caption``).
        default: True (the default) when the workflow draws it for every sweep; False for a figure
            made for one experiment, drawn when the config lists it in ``figures.extra``.
        drawn_from_table: True when the table is costly (e.g. a cross-validation): the workflow then
            writes the CSV first and passes it, read back, to the figure function as ``table=``.

    Returns the function wrapped so that it prepares and checks its input first. Registering the
    same definition twice (a module imported twice) is harmless; another function under a taken
    name raises :class:`FigureRegistrationError` naming both.
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise FigureRegistrationError(
            f"figure name {name!r} is not allowed: use lowercase letters, digits and '_', starting with a letter "
            "(it becomes the file name results/figures/<name>.png)"
        )
    # A bare string would pass for a tuple of one-letter names: keep it so that the check refuses it.
    variables = variables if isinstance(variables, str) else tuple(variables)
    options = options if isinstance(options, str) else tuple(options)

    def decorator(function):
        _check_registration(name, function, needs, variables, caption, options, table, table_caption, default,
                            drawn_from_table)
        existing = _REGISTRY.get(name)
        if existing is not None and not same_definition(existing.function, function):
            raise FigureRegistrationError(
                f"figure name {name!r} is already registered by {existing.source}; "
                f"{source_of(function)} tries to register it again. Rename one of them."
            )

        @functools.wraps(function)
        def draw(data, /, *args, **kwargs):  # positional-only: figures take a keyword ``dataset`` (the task)
            return function(entry.prepare(data), *args, **kwargs)

        entry = RegisteredFigure(
            name=name, function=function, draw=draw, needs=needs, variables=variables,
            caption=inspect.cleandoc(caption), options=options, table=table,
            table_caption=inspect.cleandoc(table_caption) if table_caption else None,
            source=source_of(function), default=default, drawn_from_table=drawn_from_table,
        )
        draw.figure = entry
        _REGISTRY[name] = entry
        return draw

    return decorator


def _warn_skipped(what: str, error: BaseException) -> None:
    warnings.warn(f"figure module {what} was skipped: {type(error).__name__}: {error}",
                  FigureLoadWarning, stacklevel=3)


def _discover_package() -> None:
    import_package_modules(FIGURE_PACKAGE, _warn_skipped)


def _discover_entry_points() -> None:
    load_entry_points(ENTRY_POINT_GROUP, _warn_skipped)  # importing a module registers its figures


def discover_figures() -> None:
    """Import the built-in figure modules and the entry-point ones (once; later calls do nothing)."""
    global _discovered
    if _discovered:
        return
    _discovered = True  # set first: the modules import this one and register while we run
    _discover_package()
    _discover_entry_points()


def available_figures() -> list[str]:
    """Sorted names of every registered figure (after discovery)."""
    discover_figures()
    return sorted(_REGISTRY)


def get_figure(name: str) -> RegisteredFigure:
    """The figure registered as ``name``; InputError listing the known figures otherwise."""
    discover_figures()
    if name in _REGISTRY:
        return _REGISTRY[name]
    known = sorted(_REGISTRY)
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InputError(f"unknown figure {name!r}; known figures: {', '.join(known) or '(none)'}.{hint}")


def describe_figures() -> dict[str, dict]:
    """``{name: {"needs", "variables", "options", "outputs", "default", "source", "summary"}}``, by name."""
    return {
        name: {
            "needs": figure.needs, "variables": figure.variables, "options": figure.options,
            "outputs": figure.outputs(), "default": figure.default, "source": figure.source,
            "summary": figure.summary(),
        }
        for name, figure in ((name, get_figure(name)) for name in available_figures())
    }


def figures_needing(needs: str) -> list[str]:
    """Sorted names of the figures that read input ``needs`` (e.g. ``"sweep"``)."""
    return [name for name in available_figures() if _REGISTRY[name].needs == needs]


def default_figures() -> list[str]:
    """Sorted names of the figures the workflow draws for every sweep (registered ``default=True``)."""
    return [name for name in available_figures() if _REGISTRY[name].default]


def workflow_figures(extra=()) -> list[str]:
    """The figures the workflow draws: the default ones, then each name of ``extra`` (``figures.extra``).

    An unknown name in ``extra`` raises InputError ("unknown figure ...; known figures: ...").
    A name listed twice, or a default figure listed again, is drawn once.
    """
    if isinstance(extra, str):
        extra = [extra]
    names = default_figures()
    for name in extra:
        get_figure(name)  # InputError listing the known figures
        if name not in names:
            names.append(name)
    return names


def figure_options(name: str, settings: dict) -> dict:
    """The keyword arguments figure ``name`` takes from the config section ``figures`` (``settings``).

    Only the figure's declared ``options`` that ``settings`` holds and sets (not None): an option
    the config leaves out, such as ``grid_axes`` without a value, keeps the function's default.
    """
    return {key: settings[key] for key in get_figure(name).options if settings.get(key) is not None}


def figure_files(directory: str, extra=()) -> list[str]:
    """``directory/<file>`` for every output of :func:`workflow_figures` ``(extra)``: the default
    figures and those named in ``extra`` (what ``snakemake figures`` builds)."""
    return [f"{directory}/{file}" for name in workflow_figures(extra) for file in get_figure(name).outputs()]
