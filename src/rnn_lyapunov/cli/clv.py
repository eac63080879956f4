"""``rnn-lyapunov clv``: weights + inputs -> covariant Lyapunov vectors -> NetCDF file and a short summary.

The network and input flags are those of ``spectrum``; the algorithm flags are the arguments of
:func:`rnn_lyapunov.covariant_lyapunov_vectors`. Arguments are checked before the computation.
"""

from __future__ import annotations

import argparse
import sys

import torch

from rnn_lyapunov.devices import FLOAT_DTYPES
from rnn_lyapunov.errors import InputError

SUMMARY_VECTORS = 10


def add_clv_parser(commands, common, positive, non_negative) -> None:
    """The ``clv`` subcommand, on the subparsers ``commands`` with the shared ``common`` options."""
    parser = commands.add_parser(
        "clv", parents=[common], help="covariant Lyapunov vectors of a trained network",
        description="Compute the covariant Lyapunov vectors (Ginelli's method) and their local growth rates of a "
                    "network from a state dict, driven by input sequences, and write them to a NetCDF file.",
        epilog="Example: rnn-lyapunov clv --architecture gru --state-dict gru.pt --dataset signal_copy "
               "--n-vectors 4 --warmup-steps 200 --backward-steps 200 --steps 1000 --keep-every 10 --out clv.nc")
    network = parser.add_argument_group("network")
    network.add_argument("--architecture", required=True, metavar="NAME", help="registered architecture")
    network.add_argument("--state-dict", required=True, metavar="FILE", help="weights saved with torch.save(model.state_dict(), FILE)")
    for flag, metavar in (("--hidden-size", "H"), ("--num-layers", "L"), ("--input-size", "I")):
        network.add_argument(flag, type=positive, metavar=metavar, help="default: inferred from the weights")
    network.add_argument("--architecture-option", action="append", default=[], metavar="KEY=VALUE",
                         help="a plugin option (repeatable; VALUE is read as YAML)")
    network.add_argument("--plugin", action="append", default=[], metavar="FILE.py", help="load architecture plugins (repeatable)")
    source = parser.add_argument_group("inputs (one of)").add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", metavar="NAME", help="drive with this dataset's validation sequences")
    source.add_argument("--inputs", metavar="FILE", help="input sequences (batch, time, input_size) in .pt, .npy or .nc")
    parser.add_argument("--data-dir", metavar="DIR", help="prepared dataset directory (default results/data/NAME)")
    algorithm = parser.add_argument_group("algorithm")
    algorithm.add_argument("--n-vectors", type=positive, metavar="K", help="leading CLVs to compute (default all)")
    algorithm.add_argument("--warmup-steps", type=non_negative, required=True, metavar="W",
                           help="first steps that bring the QR frame onto the backward Lyapunov vectors")
    algorithm.add_argument("--backward-steps", type=non_negative, required=True, metavar="B",
                           help="last steps that bring the backward iteration onto the CLVs")
    algorithm.add_argument("--keep-every", type=positive, default=1, metavar="N",
                           help="write the vectors of every N-th step between the transients (default 1)")
    algorithm.add_argument("--steps", type=positive, metavar="T", help="steps per trajectory (default one sequence)")
    algorithm.add_argument("--trajectories", type=positive, metavar="N", help="input sequences to use (default all)")
    algorithm.add_argument("--seed", type=non_negative, metavar="S", help="choose the trajectories at random with this seed")
    algorithm.add_argument("--dtype", choices=sorted(FLOAT_DTYPES), default="float64", help="default float64")
    algorithm.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    algorithm.add_argument("--threads", type=positive, metavar="N", help="torch CPU threads (default torch's choice)")
    parser.add_argument("--out", required=True, metavar="FILE.nc", help="NetCDF file to write (atomically)")
    parser.set_defaults(handler=run_clv_command)


def run_clv_command(args: argparse.Namespace) -> int:
    threads = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:  # main() may run in-process (tests, notebooks): leave torch as it was
        torch.set_num_threads(threads)


def _run(args) -> int:
    from rnn_lyapunov.cli.network_inputs import load_network_and_inputs
    from rnn_lyapunov.cli.spectrum import _netcdf_attributes
    from rnn_lyapunov.devices import resolve_device
    from rnn_lyapunov.engine.covariant import covariant_lyapunov_vectors
    from rnn_lyapunov.io.storage import check_output_path, provenance_attributes, write_netcdf_atomic

    out = check_output_path(args.out)
    device = resolve_device(args.device)
    note = (lambda message: None) if args.quiet else (lambda message: print(f"rnn-lyapunov: {message}", file=sys.stderr))
    loaded = load_network_and_inputs(args, note, trajectories=args.trajectories, steps=args.steps)
    model, sizes, inputs, source = loaded.model, loaded.sizes, loaded.inputs, loaded.source
    time_steps = inputs.shape[1]
    window = range(args.warmup_steps, time_steps - args.backward_steps, args.keep_every)
    if len(window) == 0:
        raise InputError(f"--warmup-steps {args.warmup_steps} + --backward-steps {args.backward_steps} must be smaller "
                         f"than the {time_steps} steps of each trajectory; lower them or pass --steps.")
    dtype = FLOAT_DTYPES[args.dtype]
    model.to(device=device, dtype=dtype).requires_grad_(False)
    try:
        clvs = covariant_lyapunov_vectors(model.system(), inputs.to(device=device, dtype=dtype), n_vectors=args.n_vectors,
                                          warmup_steps=args.warmup_steps, backward_steps=args.backward_steps,
                                          steps_to_keep=window)
    except InputError as error:  # in the command line's terms
        flags = ", ".join("--" + name.replace("_", "-") for name in error.arguments)
        raise InputError(f"{error}" + (f" (flags: {flags})" if flags else ""), arguments=error.arguments) from None
    settings = {"command": "clv", "architecture": args.architecture, "architecture_options": loaded.options,
                "state_dict": str(args.state_dict), "weights_layout": loaded.weights_layout, **sizes, "inputs": source,
                "trajectories": int(inputs.shape[0]), "keep_every": args.keep_every, "dtype": args.dtype,
                "seed": args.seed, "threads": args.threads}
    clvs.attrs.update(provenance_attributes(settings, str(device)))
    clvs.attrs.update(_netcdf_attributes(settings))
    write_netcdf_atomic(clvs, out)
    if not args.quiet:
        print(summary(clvs, settings, out))
    return 0


def summary(clvs, settings: dict, out) -> str:
    """The mean local growth rates and the smallest unstable-stable angle, then the file."""
    from rnn_lyapunov.engine.covariant_result import unstable_stable_angle, unstable_subspace_size

    rates = clvs["local_growth_rates"]
    mean = rates.mean(("trajectory", "step")).values
    lines = [f"covariant Lyapunov vectors of {settings['architecture']} (hidden_size {settings['hidden_size']}, "
             f"{settings['num_layers']} layer(s)) on {settings['inputs']}: {clvs.sizes['trajectory']} trajectories, "
             f"{clvs.sizes['step']} kept steps, {clvs.attrs['n_vectors']} vectors. Mean local growth rates "
             "(nats per step):"]
    lines += [f"  v_{index + 1:<3d} {value:+.6f}" for index, value in enumerate(mean[:SUMMARY_VECTORS])]
    if len(mean) > SUMMARY_VECTORS:
        lines.append(f"  ... {len(mean) - SUMMARY_VECTORS} more in the file")
    unstable = unstable_subspace_size(clvs)
    if 0 < unstable < len(mean):
        angle = float(unstable_stable_angle(clvs, n_unstable=unstable).min())
        lines.append(f"smallest angle between the {unstable} unstable and the other CLVs: {angle:.4f} rad")
    lines.append(f"wrote {out}")
    return "\n".join(lines)
