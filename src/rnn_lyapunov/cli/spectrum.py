"""``rnn-lyapunov spectrum``: weights + inputs -> spectrum -> NetCDF file and a short summary.

Everything that can be checked cheaply (output directory, weights, sizes, inputs, n_exponents,
warm-up) is checked before the computation starts, so a mistake costs seconds, not the run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from rnn_lyapunov.devices import FLOAT_DTYPES
from rnn_lyapunov.errors import InputError

DEFAULT_DATA_ROOT = Path("results") / "data"
SUMMARY_EXPONENTS = 10


def parse_options(pairs: list[str]) -> dict:
    """``["nonlinearity=relu", "k=3"]`` -> ``{"nonlinearity": "relu", "k": 3}`` (values read as YAML)."""
    import yaml

    options = {}
    for pair in pairs:
        key, separator, text = pair.partition("=")
        if not separator or not key.strip():
            raise InputError(f"--architecture-option {pair!r} is not KEY=VALUE; write e.g. --architecture-option nonlinearity=relu.")
        try:
            options[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            options[key.strip()] = text
    return options


def dataset_inputs(name: str, data_dir: str | None, note) -> tuple[torch.Tensor, str]:
    """Validation-split inputs (n, time, input_size) of dataset ``name`` and a description of where from.

    Read from ``data_dir`` (default ``results/data/NAME``) when it was prepared; with no
    ``--data-dir`` and nothing prepared there, the dataset is built in memory (seed 0, default
    options), which is what ``prepare_dataset`` would have written.
    """
    from rnn_lyapunov.datasets import build_dataset, get_dataset_builder, load_dataset
    from rnn_lyapunov.datasets.registry import METADATA_FILE

    get_dataset_builder(name)  # unknown name -> InputError listing the known ones
    directory = Path(data_dir) if data_dir is not None else DEFAULT_DATA_ROOT / name
    if data_dir is None and not (directory / METADATA_FILE).is_file():
        note(f"dataset {name!r} is not prepared in {directory}; building it in memory (seed 0, default options). "
             f"Prepare it once with `snakemake {directory / METADATA_FILE}` or pass --data-dir.")
        dataset, where = build_dataset(name, seed=0), f"dataset {name} (built in memory, seed 0)"
    else:
        dataset, where = load_dataset(name, directory), f"dataset {name} from {directory}"
    return dataset.encode_inputs(dataset.validation.inputs), where


def run_spectrum_command(args, note) -> int:
    """Run ``rnn-lyapunov spectrum`` with parsed ``args``; returns the exit code (0)."""
    threads = torch.get_num_threads()
    if getattr(args, "threads") is not None:
        torch.set_num_threads(getattr(args, "threads"))
    try:
        return _run(args, note)
    finally:  # main() may be called in-process (tests, notebooks): leave torch as it was
        torch.set_num_threads(threads)


def _run(args, note) -> int:
    from rnn_lyapunov.devices import resolve_device
    from rnn_lyapunov.engine.lyapunov import lyapunov_spectrum
    from rnn_lyapunov.io.inputs import check_inputs_array, read_inputs_file, select_sequences
    from rnn_lyapunov.architectures.registry import get_architecture, load_plugin_paths
    from rnn_lyapunov.io.storage import provenance_attributes, write_netcdf_atomic
    from rnn_lyapunov.io.weights import build_model_from_weights, interpret_state_dict, load_weights_file
    from rnn_lyapunov.config.engine_arguments import check_spectrum_schedule, engine_arguments
    from rnn_lyapunov.io.storage import check_output_path

    # The algorithm flags come from the settings table: their dests are the settings keys.
    option = {key.rpartition(".")[2]: value for key, value in vars(args).items() if key.startswith("spectrum.")}
    out = check_output_path(args.out)
    device = resolve_device(args.device)
    if args.plugin:
        load_plugin_paths(args.plugin)
    get_architecture(args.architecture)  # unknown name -> InputError listing the known ones
    weights = interpret_state_dict(load_weights_file(args.state_dict), args.state_dict)
    options = parse_options(args.architecture_option)
    if args.dataset is not None:
        raw_inputs, source = dataset_inputs(args.dataset, args.data_dir, note)
    else:
        if args.data_dir is not None:
            raise InputError("--data-dir goes with --dataset; with --inputs FILE it is not used. Drop one of them.")
        raw_inputs, source = read_inputs_file(args.inputs), f"inputs file {args.inputs}"
    input_size = args.input_size if args.input_size is not None else weights.input_size
    input_size = input_size if input_size is not None else raw_inputs.shape[2]
    model, sizes = build_model_from_weights(
        weights, args.architecture, hidden_size=args.hidden_size, num_layers=args.num_layers,
        input_size=input_size, options=options, path=args.state_dict)
    raw_inputs = check_inputs_array(raw_inputs, source=source, input_size=sizes["input_size"])
    inputs = select_sequences(raw_inputs, trajectories=option["trajectories"], steps=option["steps"], seed=args.seed,
                              concatenate=args.dataset is not None, source=source)
    from rnn_lyapunov.architectures.hidden_only import spectrum_system

    system = spectrum_system(model.system(), option["lstm_state"])
    state_size = int(getattr(system, "tangent_size", system.state_size))
    # before the computation, in the command line's own terms
    check_spectrum_schedule(option, time_steps=inputs.shape[1], state_size=state_size, as_flags=True)

    dtype = FLOAT_DTYPES[option["dtype"]]
    model.to(device=device, dtype=dtype).requires_grad_(False)  # the system shares the model's parameters
    spectrum = lyapunov_spectrum(system, inputs.to(device=device, dtype=dtype), **engine_arguments(option),
                                 progress=not args.quiet and sys.stderr.isatty())

    settings = {
        "command": "spectrum", "architecture": args.architecture, "architecture_options": options,
        "state_dict": str(args.state_dict), "weights_layout": weights.layout, **sizes,
        "state_size": state_size, "inputs": source, "trajectories": int(inputs.shape[0]),
        "time_steps": int(inputs.shape[1]), "n_exponents": spectrum.n_exponents, "warmup_steps": option["warmup_steps"],
        "reorthonormalize_every": option["reorthonormalize_every"], "record_every": option["record_every"],
        "factorization": spectrum.factorization, "tangent_dtype": spectrum.tangent_dtype,
        "dtype": option["dtype"], "units": option["units"], "lstm_state": option["lstm_state"], "seed": args.seed, "threads": args.threads,
    }
    dataset = spectrum.to_dataset(option["units"])  # attribute "steps": the averaged steps (after warm-up)
    dataset.attrs.update(provenance_attributes(settings, str(device)))
    dataset.attrs.update(_netcdf_attributes(settings))
    write_netcdf_atomic(dataset, out)
    if not args.quiet:
        print(summary(spectrum, settings, out))
    return 0


def _netcdf_attributes(settings: dict) -> dict:
    """NetCDF attributes hold numbers and strings only: None -> "none", dicts -> JSON."""
    converted = {}
    for key, value in settings.items():
        if value is None:
            converted[key] = "none"
        elif isinstance(value, dict):
            converted[key] = json.dumps(value, sort_keys=True)
        elif isinstance(value, bool):
            converted[key] = int(value)
        else:
            converted[key] = value
    return converted


def summary(spectrum, settings: dict, out) -> str:
    """A few lines: the leading exponents with standard errors, Kaplan-Yorke dimension, the file."""
    from rnn_lyapunov.engine.spectrum import EXPONENT_UNITS

    units = settings.get("units", "nats")
    label, factor = EXPONENT_UNITS[units]
    lines = [
        f"Lyapunov spectrum of {settings['architecture']} (hidden_size {settings['hidden_size']}, "
        f"{settings['num_layers']} layer(s), state_size {settings['state_size']}) on {settings['inputs']}:",
        f"{settings['trajectories']} trajectories x {settings['time_steps']} steps (warm-up {settings['warmup_steps']}), "
        f"{settings['dtype']}. Exponents in {label}, mean +- standard error over trajectories:",
    ]
    shown = min(spectrum.n_exponents, SUMMARY_EXPONENTS)
    for index in range(shown):
        mean, error = factor * float(spectrum.exponents[index]), factor * float(spectrum.stderr[index])
        lines.append(f"  lambda_{index + 1:<3d} {mean:+.6f} +- {error:.6f}")
    if spectrum.n_exponents > shown:
        lines.append(f"  ... {spectrum.n_exponents - shown} more in the file")
    lines.append(f"Kaplan-Yorke dimension {spectrum.kaplan_yorke_dimension:.4f}; "
                 f"sum of positive exponents {factor * spectrum.entropy:.6f} {units}/step")
    lines.append(f"wrote {out}")
    return "\n".join(lines)
