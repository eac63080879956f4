"""``rnn-lyapunov spectrum``: weights + inputs -> spectrum -> NetCDF file and a short summary.

Everything that can be checked cheaply (output directory, weights, sizes, inputs, n_exponents,
warm-up) is checked before the computation starts, so a mistake costs seconds, not the run.
"""

from __future__ import annotations

import json
import sys

import torch

from rnn_lyapunov.devices import FLOAT_DTYPES

SUMMARY_EXPONENTS = 10


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
    from rnn_lyapunov.cli.network_inputs import load_network_and_inputs
    from rnn_lyapunov.config.engine_arguments import check_spectrum_schedule, engine_arguments
    from rnn_lyapunov.devices import resolve_device
    from rnn_lyapunov.engine.lyapunov import lyapunov_spectrum
    from rnn_lyapunov.io.storage import check_output_path, provenance_attributes, write_netcdf_atomic

    # The algorithm flags come from the settings table: their dests are the settings keys.
    option = {key.rpartition(".")[2]: value for key, value in vars(args).items() if key.startswith("spectrum.")}
    out = check_output_path(args.out)
    device = resolve_device(args.device)
    loaded = load_network_and_inputs(args, note, trajectories=option["trajectories"], steps=option["steps"])
    model, sizes, inputs, source = loaded.model, loaded.sizes, loaded.inputs, loaded.source
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
        "command": "spectrum", "architecture": args.architecture, "architecture_options": loaded.options,
        "state_dict": str(args.state_dict), "weights_layout": loaded.weights_layout, **sizes,
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
