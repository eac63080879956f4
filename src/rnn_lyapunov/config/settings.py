"""Every setting of a training run and of its spectra, declared once.

Each :class:`Setting` holds a run-config key, its JSON-schema fragment (type and allowed range), its
default and a one-line help. From this table come:

* the run-config defaults and validation (:mod:`rnn_lyapunov.config.run_config`);
* the workflow's JSON schema, ``workflow/schemas/config.schema.yaml`` (:mod:`rnn_lyapunov.config.schema`);
* the command-line flags of ``rnn-lyapunov train`` and ``rnn-lyapunov spectrum`` (:mod:`rnn_lyapunov.cli`);
* the settings table of the documentation (`docs/settings.md`, written by `docs/generate_tables.py`);
* the names the engine's argument errors are translated to (``warmup_steps`` -> ``spectrum.warmup_steps``
  in a config, ``--warmup-steps`` on the command line).

Adding a setting = one ``Setting(...)`` line here plus the code that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_POSITIVE_INT = {"type": "integer", "minimum": 1}
_OPTIONAL_POSITIVE_INT = {"type": ["integer", "null"], "minimum": 1}
_OPTIONAL_POSITIVE_NUMBER = {"type": ["number", "null"], "exclusiveMinimum": 0}


@dataclass(frozen=True)
class Setting:
    """One run-config setting.

    Attributes:
        key: the run-config key; ``section.name`` for a nested one (``spectrum.warmup_steps``).
        schema: JSON-schema fragment of one value (type, bounds, enum; ``description`` when the
            allowed values need words).
        default: the value when the config leaves the key out.
        help: one line for the documentation's settings table and ``--help``.
        run_id_label: how the value is named in a run id when a sweep varies it (``lr`` ->
            ``lr0.001``); None: ``key=value``.
        engine_argument: the ``lyapunov_spectrum`` argument this setting is passed as, if any.
        sweepable: whether it may be a sweep axis.
    """

    key: str
    schema: dict
    default: Any
    help: str
    run_id_label: str | None = None
    engine_argument: str | None = None
    sweepable: bool = True
    metavar: str | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """The key without its section: ``warmup_steps`` for ``spectrum.warmup_steps``."""
        return self.key.rpartition(".")[2]

    @property
    def section(self) -> str | None:
        """``"spectrum"`` for ``spectrum.warmup_steps``; None for a top-level key."""
        return self.key.rpartition(".")[0] or None

    @property
    def flag(self) -> str:
        """The command-line flag: ``--warmup-steps``; ``--spectrum-epochs`` where the bare name is taken."""
        # flossing's flags always carry the section: its names repeat the training's and spectrum's.
        clash = self.section is not None and (self.name in _TOP_LEVEL_NAMES or self.section == "flossing")
        return "--" + (f"{self.section}_{self.name}" if clash else self.name).replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("run_id", {"type": "string", "pattern": r"^[A-Za-z0-9_.+=-]+$",
                       "description": "letters, digits and _ . + = - (it becomes a file name)"},
            "run", "name of the run; names its files", sweepable=False),
    Setting("dataset", {"type": "string"}, "signal_copy", "registered dataset (`rnn-lyapunov datasets`)",
            run_id_label=""),
    Setting("dataset_options", {"type": "object"}, {}, "options of the dataset's builder", sweepable=False),
    Setting("data_dir", {"type": ["string", "null"]}, None,
            "prepared dataset directory; null builds the dataset in memory from seed and dataset_options",
            sweepable=False),
    Setting("architecture", {"type": "string"}, "rnn", "registered architecture (`rnn-lyapunov architectures`)",
            run_id_label=""),
    Setting("architecture_options", {"type": "object"}, {}, "the architecture plugin's own options", sweepable=False),
    Setting("plugin_paths", {"type": "array", "items": {"type": "string"},
                             "description": "a list of paths to .py files or folders of them"},
            [], ".py files or folders defining extra architectures", sweepable=False),
    Setting("hidden_size", _POSITIVE_INT, 64, "units per layer", run_id_label="h"),
    Setting("num_layers", _POSITIVE_INT, 1, "stacked recurrent layers", run_id_label="l"),
    Setting("bias", {"type": "boolean"}, True, "biases in the recurrent core (Vogt et al. 2022 used none)",
            run_id_label="bias"),
    Setting("init", {"enum": ["default", "uniform", "orthogonal"]}, "default",
            "initialisation: torch's default, uniform in [-init_scale, init_scale], or orthogonal recurrent weights",
            run_id_label=""),
    Setting("init_scale", _OPTIONAL_POSITIVE_NUMBER, None, "the p of init 'uniform'", run_id_label="p"),
    Setting("init_gain", _OPTIONAL_POSITIVE_NUMBER, None, "the gain of init 'orthogonal'", run_id_label="g"),
    Setting("optimizer", {"enum": ["adam", "sgd"]}, "adam", "optimizer", run_id_label=""),
    Setting("learning_rate", {"type": "number", "exclusiveMinimum": 0}, 1e-3, "learning rate", run_id_label="lr"),
    Setting("lr_decay", {"type": "number", "exclusiveMinimum": 0, "maximum": 1}, 1.0,
            "learning-rate factor per epoch from lr_decay_start on (1: constant; the authors used 0.95)",
            run_id_label="lrd"),
    Setting("lr_decay_start", {"type": "integer", "minimum": 1}, 1,
            "first epoch trained at a decayed learning rate: epoch e uses lr * lr_decay^(e - start + 1)",
            run_id_label="lrds"),
    Setting("momentum", {"type": "number", "minimum": 0, "exclusiveMaximum": 1}, 0.0, "SGD momentum",
            run_id_label="mom"),
    Setting("batch_size", _POSITIVE_INT, 64, "training sequences per batch", run_id_label="b"),
    Setting("epochs", {"type": "integer", "minimum": 0}, 10, "training epochs (0: spectra at initialisation only)",
            run_id_label="e"),
    Setting("grad_clip", _OPTIONAL_POSITIVE_NUMBER, 1.0, "maximum gradient norm; null: no clipping",
            run_id_label="clip"),
    Setting("dropout", {"type": "number", "minimum": 0, "exclusiveMaximum": 1}, 0.0,
            "dropout between the recurrent output and the readout (and between layers)", run_id_label="do"),
    Setting("seed", {"type": "integer", "minimum": 0}, 0, "seed of initialisation, data order and in-memory data",
            run_id_label="s"),
    Setting("device", {"type": "string", "pattern": r"^(auto|cpu|cuda(:[0-9]+)?)$",
                       "description": "'auto', 'cpu', 'cuda' or 'cuda:N'"},
            "auto", "auto: CUDA when present, else CPU", sweepable=False),
    Setting("threads", _OPTIONAL_POSITIVE_INT, 1, "torch CPU threads; null: torch's default", sweepable=False),
    Setting("spectrum.epochs", {"anyOf": [{"const": "all"},
                                          {"type": "array", "items": {"type": "integer", "minimum": 0}}],
                                "description": "'all' or a list of epoch numbers (integers >= 0)"},
            "all", "epochs after which to compute spectra; epoch 0 (initialisation) always", sweepable=False),
    Setting("spectrum.n_exponents", _OPTIONAL_POSITIVE_INT, None, "the largest K exponents; null: all",
            run_id_label="k", engine_argument="n_exponents"),
    Setting("spectrum.trajectories", _POSITIVE_INT, 8, "validation sequences driving the spectrum",
            run_id_label="traj"),
    Setting("spectrum.steps", _OPTIONAL_POSITIVE_INT, None,
            "time steps per trajectory; null: one validation sequence", run_id_label="T"),
    Setting("spectrum.warmup_steps", {"type": "integer", "minimum": 0}, 0, "steps before averaging starts",
            run_id_label="w", engine_argument="warmup_steps"),
    Setting("spectrum.reorthonormalize_every",
            {"anyOf": [{"const": "auto"}, {"type": "integer", "minimum": 1}],
             "description": "'auto' or an integer >= 1"}, "auto",
            "steps between QR decompositions; auto: the longest interval keeping every exponent within 1e-6 "
            "(float64) or 1e-4 (float32) nats per step of QR every step",
            run_id_label="qr", engine_argument="reorthonormalize_every"),
    Setting("spectrum.factorization", {"enum": ["auto", "qr", "lu"]}, "auto",
            "how the tangent frame is re-triangularised between averaging windows: qr (Householder), lu (the same "
            "exponents, cheaper) or auto (lu for a frame of >= 48 columns and > 1/4 of the state on a float64 frame)",
            run_id_label="", engine_argument="factorization"),
    Setting("spectrum.tangent_dtype", {"enum": ["auto", "float32", "float64"]}, "auto",
            "dtype of the tangent frame (the network runs in spectrum.dtype); auto: float64 for such a near-square "
            "frame on the CPU, else spectrum.dtype",
            run_id_label="", engine_argument="tangent_dtype"),
    Setting("spectrum.record_every", _OPTIONAL_POSITIVE_INT, 10,
            "store running estimates every R steps (a multiple of reorthonormalize_every); null: none",
            engine_argument="record_every", sweepable=False),
    Setting("spectrum.lstm_state", {"enum": ["full", "h_only"]}, "full",
            "LSTM exponents of the full (h, c) state, or the authors' h alone with c held fixed (not the LSTM's spectrum)",
            run_id_label=""),
    Setting("spectrum.units", {"enum": ["nats", "bits"]}, "nats",
            "units of the exponents written and shown: nats (ln) or bits (log2, the authors') per step",
            run_id_label=""),
    Setting("spectrum.dtype", {"enum": ["float32", "float64"]}, "float64", "compute dtype of the spectrum",
            run_id_label=""),
    # covariant Lyapunov vectors at the spectrum epochs (rnn_lyapunov.training.clv_angles; docs/clv.md)
    Setting("spectrum.clv_angles", {"type": "boolean"}, False,
            "also record angles between the leading covariant Lyapunov vectors at every spectrum epoch (Ginelli's "
            "method on the spectrum's inputs, spectrum.warmup_steps as both transients; figure clv_angles)",
            sweepable=False),
    Setting("spectrum.clv_vectors", {"type": "integer", "minimum": 2}, 4,
            "leading CLVs computed when spectrum.clv_angles is on (at most the state size)", sweepable=False),
    # Gradient flossing (Engelken 2023; docs/flossing.md): off unless before_training or every_epochs
    # and updates_per_episode are set. Exponents in nats per step, whatever spectrum.units says.
    Setting("flossing.n_exponents", _POSITIVE_INT, 1, "how many leading exponents flossing pushes toward the target",
            run_id_label="fk"),
    Setting("flossing.target", {"anyOf": [{"type": "number"}, {"type": "array", "minItems": 1,
                                                                "items": {"type": "number"}}],
                                "description": "a finite number or a list of flossing.n_exponents finite numbers"},
            0.0, "target exponent(s), nats per step (0: the edge of chaos)", run_id_label="ft"),
    Setting("flossing.steps", _POSITIVE_INT, 55, "steps of each flossing sequence (cut from training inputs)",
            run_id_label="fT"),
    Setting("flossing.warmup_steps", {"type": "integer", "minimum": 0}, 0,
            "steps of each flossing sequence before its exponents are averaged (< flossing.steps)", run_id_label="fw"),
    Setting("flossing.batch_size", _POSITIVE_INT, 1, "flossing sequences per update", run_id_label="fb"),
    Setting("flossing.optimizer", {"enum": ["adam", "sgd"]}, "adam", "the flossing optimizer (its own state)",
            run_id_label="fo"),
    Setting("flossing.learning_rate", {"type": "number", "exclusiveMinimum": 0}, 1e-2, "flossing learning rate",
            run_id_label="flr"),
    Setting("flossing.before_training", {"type": "integer", "minimum": 0}, 0,
            "flossing updates before the first epoch (after the epoch-0 spectrum); 0: none", run_id_label="fpre"),
    Setting("flossing.every_epochs", {"type": "integer", "minimum": 0}, 0,
            "a flossing episode after every E-th epoch (not the last); 0: none during training", run_id_label="fe"),
    Setting("flossing.updates_per_episode", {"type": "integer", "minimum": 0}, 0,
            "flossing updates per episode during training; 0: none", run_id_label="fu"),
)

SECTIONS = ("spectrum", "flossing")
_TOP_LEVEL_NAMES = {setting.name for setting in SETTINGS if setting.section is None}
BY_KEY: dict[str, Setting] = {setting.key: setting for setting in SETTINGS}
BY_ENGINE_ARGUMENT: dict[str, Setting] = {s.engine_argument: s for s in SETTINGS if s.engine_argument}


def defaults() -> dict:
    """A fresh run config holding every default (nested sections as dicts)."""
    import copy

    config: dict = {section: {} for section in SECTIONS}
    for setting in SETTINGS:
        target = config if setting.section is None else config[setting.section]
        target[setting.name] = copy.deepcopy(setting.default)
    return config


def get_path(config: dict, key: str):
    """``config["spectrum"]["warmup_steps"]`` for key ``spectrum.warmup_steps`` (KeyError if absent)."""
    value = config
    for part in key.split("."):
        value = value[part]
    return value


def set_path(config: dict, key: str, value) -> None:
    """Set a possibly dotted key in a nested config, creating sections as needed."""
    *sections, name = key.split(".")
    for part in sections:
        config = config.setdefault(part, {})
    config[name] = value


def describe_allowed(schema: dict) -> str:
    """What a schema fragment allows, in words: ``integer >= 1``, ``one of 'adam', 'sgd'``."""
    if "description" in schema:
        return schema["description"]
    if "enum" in schema:
        return "one of " + ", ".join(map(repr, schema["enum"]))
    kinds = schema.get("type", "any value")
    kinds = " or ".join(kinds) if isinstance(kinds, list) else kinds
    bounds = [f"{relation} {schema[key]}" for key, relation in (
        ("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")) if key in schema]
    return kinds.replace("null", "null (none)") + (f" {' and '.join(bounds)}" if bounds else "")


def settings_table() -> str:
    """The settings table of `docs/settings.md` (Markdown), generated from ``SETTINGS``."""
    rows = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for setting in SETTINGS:
        default = "null" if setting.default is None else repr(setting.default).replace("'", "")
        allowed = describe_allowed(setting.schema).replace("|", "\\|")
        rows.append(f"| `{setting.key}` | `{default}` | {allowed} | {setting.help} |")
    return "\n".join(rows)


def restate(error, *, as_flags: bool = False):
    """The engine's ``InputError`` restated with config keys (``spectrum.warmup_steps``) or, with
    ``as_flags``, command-line flags (``--warmup-steps``) in place of its argument names.

    Errors without ``arguments``, or naming arguments no setting is passed as, come back unchanged.
    """
    import re

    from rnn_lyapunov.errors import InputError

    names = [name for name in getattr(error, "arguments", ()) if name in BY_ENGINE_ARGUMENT]
    if not names:
        return error
    message = str(error)
    for name in set(BY_ENGINE_ARGUMENT) & set(re.findall(r"[A-Za-z_]+", message)):
        setting = BY_ENGINE_ARGUMENT[name]
        message = re.sub(rf"(?<![\w.-]){name}(?!\w)", setting.flag if as_flags else setting.key, message)
    prefix = "" if as_flags else "config key "
    return InputError(prefix + message, arguments=tuple(BY_ENGINE_ARGUMENT[name].key for name in names))
