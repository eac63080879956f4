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
unknown ``needs``, an empty caption, and options the function does not accept. The registry is
the project's one :class:`~rnn_lyapunov.registry.Registry`; the inputs a figure may read are in
:mod:`rnn_lyapunov.figures.inputs`, what is kept of a figure in
:mod:`rnn_lyapunov.figures.registered_figure`.
"""

from __future__ import annotations

import functools
import inspect

from rnn_lyapunov.figures.inputs import FIGURE_INPUTS, FigureInput  # noqa: F401  (re-exported: its old home)
from rnn_lyapunov.figures.registered_figure import RegisteredFigure
from rnn_lyapunov.registry import PluginSkippedWarning, RegistrationError, Registry, source_of

FIGURE_PACKAGE = "rnn_lyapunov.figures"
ENTRY_POINT_GROUP = "rnn_lyapunov.figures"


class FigureLoadWarning(PluginSkippedWarning):
    """A figure module could not be imported; its figures were skipped."""


class FigureRegistrationError(RegistrationError):
    """A figure was refused at registration (the message says why and how to fix it)."""


#: Every registered figure by name (discovered from ``FIGURE_PACKAGE`` and ``ENTRY_POINT_GROUP``).
FIGURES: Registry[RegisteredFigure] = Registry(
    "figure", package=FIGURE_PACKAGE, entry_point_group=ENTRY_POINT_GROUP,
    error=FigureRegistrationError, warning=FigureLoadWarning,
    name_rule="lowercase letters, digits and '_', starting with a letter "
              "(it becomes the file name results/figures/<name>.png)",
    definition=lambda figure: figure.function, replace_reimported=True,
)


def _keyword_names(function) -> tuple[set[str], bool]:
    """(names of keyword-usable parameters, whether it takes ``**kwargs``)."""
    parameters = inspect.signature(function).parameters.values()
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind is p.VAR_KEYWORD for p in parameters)


def _check_registration(name, function, needs, variables, caption, options, table, table_caption,
                        default=True, drawn_from_table=False) -> None:
    def refuse(reason: str):
        FIGURES.refuse(name, function, reason)

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
    FIGURES.check_name(name)
    # A bare string would pass for a tuple of one-letter names: keep it so that the check refuses it.
    variables = variables if isinstance(variables, str) else tuple(variables)
    options = options if isinstance(options, str) else tuple(options)

    def decorator(function):
        _check_registration(name, function, needs, variables, caption, options, table, table_caption, default,
                            drawn_from_table)
        @functools.wraps(function)
        def draw(data, /, *args, **kwargs):  # positional-only: figures take a keyword ``dataset`` (the task)
            return function(entry.prepare(data), *args, **kwargs)

        entry = RegisteredFigure(
            name=name, function=function, draw=draw, needs=needs, variables=variables,
            caption=inspect.cleandoc(caption), options=options, table=table,
            table_caption=inspect.cleandoc(table_caption) if table_caption else None,
            source=source_of(function), default=default, drawn_from_table=drawn_from_table,
        )
        draw.figure = FIGURES.add(name, entry)
        return draw

    return decorator


def discover_figures() -> None:
    """Import the built-in figure modules and the entry-point ones (once; later calls do nothing)."""
    FIGURES.discover()


def available_figures() -> list[str]:
    """Sorted names of every registered figure (after discovery)."""
    return FIGURES.names()


def get_figure(name: str) -> RegisteredFigure:
    """The figure registered as ``name``; InputError (UnknownNameError) listing the known figures otherwise."""
    return FIGURES.get(name)


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
    return [name for name in available_figures() if FIGURES.entries[name].needs == needs]


def default_figures() -> list[str]:
    """Sorted names of the figures the workflow draws for every sweep (registered ``default=True``)."""
    return [name for name in available_figures() if FIGURES.entries[name].default]


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
