"""The ``rnn-lyapunov`` command: list architectures and datasets, compute a spectrum or covariant
Lyapunov vectors, train one run, search hyperparameters.

Exit codes: 0 success; 2 bad usage or bad input (an :class:`~rnn_lyapunov.errors.InputError`: a
one-paragraph message on stderr, no traceback), a missing optional extra included (the message
gives its ``pip install`` line; :mod:`rnn_lyapunov.extras`); 1 an unexpected internal error (a short message and
a hint to re-run with ``--debug`` for the traceback). Output files are written atomically, so a
failed or interrupted command leaves every existing file as it was.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from pathlib import Path

from rnn_lyapunov.cli.setting_flags import add_setting_flags, given_settings
from rnn_lyapunov.config.settings import SETTINGS, set_path
from rnn_lyapunov.errors import InputError

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2
# Settings the spectrum command takes as flags, and those whose default there is "not set".
SPECTRUM_FLAGS = ("spectrum.n_exponents", "spectrum.warmup_steps", "spectrum.steps", "spectrum.trajectories",
                  "spectrum.reorthonormalize_every", "spectrum.factorization", "spectrum.tangent_dtype",
                  "spectrum.record_every", "spectrum.lstm_state", "spectrum.units", "spectrum.dtype",
                  "device", "threads")
SPECTRUM_UNSET = ("spectrum.trajectories", "spectrum.record_every", "threads")
# Settings the train command takes as flags, overriding the config file.
TRAIN_FLAGS = tuple(s.key for s in SETTINGS if s.schema.get("type") not in ("object", "array") and s.key != "run_id")


def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """--quiet/--debug, accepted before and after the subcommand (only the main parser sets defaults)."""
    parent = argparse.ArgumentParser(add_help=False)
    default = False if defaults else argparse.SUPPRESS
    parent.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="print nothing but errors (no progress bars, notes or summary)")
    parent.add_argument("--debug", action="store_true", default=default,
                        help="show the full traceback of any error")
    return parent


def build_parser() -> argparse.ArgumentParser:
    from rnn_lyapunov import __version__

    parser = argparse.ArgumentParser(
        prog="rnn-lyapunov", parents=[_common_options(True)],
        description="Lyapunov spectra of recurrent neural networks (exponents in nats per time step).",
        epilog="Exit codes: 0 success, 2 bad usage or input, 1 internal error. Run "
               "'rnn-lyapunov COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options(False)

    listing = commands.add_parser("architectures", parents=[common], help="list the registered architectures",
                                  description="List the registered architectures with a one-line description each.")
    listing.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                         help="also load architecture plugins from this file or folder (repeatable)")
    listing.set_defaults(handler=_architectures)

    datasets = commands.add_parser("datasets", parents=[common], help="list the registered datasets",
                                   description="List the registered datasets with a one-line description each.")
    datasets.set_defaults(handler=_datasets)

    spectrum = commands.add_parser(
        "spectrum", parents=[common], help="Lyapunov spectrum of a trained network",
        description="Compute the Lyapunov spectrum of a network from a state dict (of a SequenceModel or of "
                    "a plain torch.nn.RNN/LSTM/GRU) driven by input sequences, and write it to a NetCDF file.",
        epilog="Example: rnn-lyapunov spectrum --architecture lstm --state-dict lstm.pt "
               "--dataset signal_copy --n-exponents 10 --out spectrum.nc")
    _add_spectrum_options(spectrum)
    spectrum.set_defaults(handler=_spectrum)

    from rnn_lyapunov.cli.clv import add_clv_parser

    add_clv_parser(commands, common, _positive, _non_negative)

    train = commands.add_parser(
        "train", parents=[common], help="one training run with spectra per epoch",
        description="Train one network from a run config (YAML or JSON) outside the workflow, measuring its "
                    "Lyapunov spectrum as it learns; writes the per-run NetCDF file.",
        epilog="Example: rnn-lyapunov train --config run.yaml --out results/spectra/run.nc")
    train.add_argument("--config", required=True, metavar="FILE", help="run config, YAML or JSON")
    train.add_argument("--run-dir", metavar="DIR", help="checkpoint and log directory (default results/runs/RUN_ID)")
    train.add_argument("--out", metavar="FILE.nc", help="per-run NetCDF file (default results/spectra/RUN_ID.nc)")
    add_setting_flags(train.add_argument_group("settings (override the config file; docs/settings.md)"),
                      TRAIN_FLAGS, suppress=True)
    train.set_defaults(handler=_train)

    search = commands.add_parser(
        "search", parents=[common], help="spectrum-guided hyperparameter search (Optuna)",
        description="Run or continue an Optuna study over run-config keys, each trial a training run with "
                    "spectra, pruned when its early spectrum predicts failure. The study lives in SQLite "
                    "(default results/search/STUDY/study.db): run the same command again to continue it, or "
                    "N times at once (N workers) to share it. Needs the extra: pip install 'rnn-lyapunov[search]'.",
        epilog="Example: rnn-lyapunov search --config config/search.yaml")
    search.add_argument("--config", required=True, metavar="FILE", help="search config, YAML or JSON")
    search.add_argument("--n-trials", type=_positive, metavar="N",
                        help="the study's budget of finished trials (overrides search.n_trials)")
    search.set_defaults(handler=_search)
    return parser


def _positive(text: str) -> int:
    return _int_at_least(text, 1)


def _non_negative(text: str) -> int:
    return _int_at_least(text, 0)


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
    return value


def _add_spectrum_options(parser: argparse.ArgumentParser) -> None:
    network = parser.add_argument_group("network")
    network.add_argument("--architecture", required=True, metavar="NAME", help="registered architecture (see 'rnn-lyapunov architectures')")
    network.add_argument("--state-dict", required=True, metavar="FILE", help="weights saved with torch.save(model.state_dict(), FILE)")
    network.add_argument("--hidden-size", type=_positive, metavar="H", help="default: inferred from the weights' shapes")
    network.add_argument("--num-layers", type=_positive, metavar="L", help="default: inferred from the weights' keys")
    network.add_argument("--input-size", type=_positive, metavar="I", help="default: inferred from the weights' shapes")
    network.add_argument("--architecture-option", action="append", default=[], metavar="KEY=VALUE",
                         help="a plugin option, e.g. nonlinearity=relu (repeatable; VALUE is read as YAML)")
    network.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                         help="load architecture plugins from this file or folder (repeatable)")
    source = parser.add_argument_group("inputs (one of)").add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", metavar="NAME", help="drive with this dataset's validation sequences")
    source.add_argument("--inputs", metavar="FILE", help="input sequences (batch, time, input_size) in .pt, .npy or .nc")
    parser.add_argument("--data-dir", metavar="DIR", help="prepared dataset directory (default results/data/NAME)")
    algorithm = parser.add_argument_group("algorithm")
    add_setting_flags(algorithm, SPECTRUM_FLAGS, defaults={key: None for key in SPECTRUM_UNSET},
                      notes={"spectrum.trajectories": "all", "spectrum.steps": "one sequence",
                             "spectrum.n_exponents": "all", "spectrum.record_every": "none",
                             "threads": "torch's choice; 1 is often fastest for small networks"})
    algorithm.add_argument("--seed", type=_non_negative, metavar="S",
                           help="choose the trajectories at random with this seed (default: the first ones, in order)")
    parser.add_argument("--out", required=True, metavar="FILE.nc", help="NetCDF file to write (atomically)")


def _note(args, message: str) -> None:
    if not args.quiet:
        print(f"rnn-lyapunov: {message}", file=sys.stderr)


def _architectures(args) -> int:
    from rnn_lyapunov.architectures.registry import describe_architectures, load_plugin_paths

    if args.plugin:
        load_plugin_paths(args.plugin)
    _print_table(describe_architectures())
    return EXIT_OK


def _datasets(args) -> int:
    from rnn_lyapunov.datasets import describe_datasets

    _print_table(describe_datasets())
    return EXIT_OK


def _print_table(descriptions: dict[str, str]) -> None:
    width = max((len(name) for name in descriptions), default=0)
    for name, description in descriptions.items():
        print(f"{name:<{width}}  {description}")


def _spectrum(args) -> int:
    from rnn_lyapunov.cli.spectrum import run_spectrum_command

    return run_spectrum_command(args, note=lambda message: _note(args, message))


def _train(args) -> int:
    from rnn_lyapunov.config.run_config import load_run_config, validate_run_config
    from rnn_lyapunov.io.storage import check_output_path
    from rnn_lyapunov.training.loop import train_run

    config = load_run_config(args.config)
    for key, value in given_settings(args, TRAIN_FLAGS).items():
        set_path(config, key, value)
    config = validate_run_config(config)
    out = check_output_path(args.out) if args.out else Path("results") / "spectra" / f"{config['run_id']}.nc"
    run_dir = Path(args.run_dir) if args.run_dir else Path("results") / "runs" / config["run_id"]
    result = train_run(config, run_dir, out, progress=not args.quiet and sys.stderr.isatty())
    if not args.quiet:
        exponents = result["lyapunov_exponents"]
        final = exponents.isel(epoch=-1).values
        print(f"run {config['run_id']}: {exponents.sizes['epoch'] - 1} epochs; leading exponent at the last "
              f"epoch {final[0]:+.6f} nats/step; wrote {out} (checkpoint and log in {run_dir})")
    return EXIT_OK


def _search(args) -> int:
    from rnn_lyapunov.search import run_search

    study = run_search(args.config, n_trials=args.n_trials, progress=False if args.quiet else None)
    if not args.quiet:
        try:
            print(f"best trial {study.best_trial.number}: objective {study.best_value:.6g} with {study.best_params}")
        except ValueError:  # no trial completed (all pruned or failed)
            print("no trial completed; see the lines above for why each stopped")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with code 2 on bad usage
    code, message, trace = EXIT_OK, None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = args.handler(args)
        except InputError as error:
            code, message, trace = EXIT_INPUT, f"error: {error}", traceback.format_exc()
        except BrokenPipeError:  # stdout piped into `head` that exited: the reader wanted no more
            _silence_stdout()
            code = EXIT_OK
        except OSError as error:  # a file we could not read or write: the path is the problem
            code, trace = EXIT_INPUT, traceback.format_exc()
            message = (f"error: {error.strerror or error} ({error.filename or 'file'}). "
                       "Check the path and its permissions.")
        except KeyboardInterrupt:
            code, trace = 130, traceback.format_exc()
            message = ("interrupted. Files are written atomically, so none is partial; a training run "
                       "resumes from its last checkpoint when started again.")
        except Exception as error:  # noqa: BLE001 - anything else is a bug: short message, traceback on request
            code, message, trace = _unexpected(error, args.debug)
    _print_warnings(args, caught)
    if message is not None:
        if args.debug:
            print(trace, file=sys.stderr, end="")
        # The message comes last, so it is what a user sees at the bottom of the terminal.
        print(f"rnn-lyapunov: {message}", file=sys.stderr)
    return code


def _unexpected(error: Exception, debug: bool) -> tuple[int, str, str]:
    """(exit code, message, traceback) of an exception no handler expected: a package of an optional
    extra that no ``require`` guarded is bad input (install the extra); anything else is a bug."""
    from rnn_lyapunov.extras import missing_extra

    trace = traceback.format_exc()
    missing = missing_extra(error) if isinstance(error, ModuleNotFoundError) else None
    if missing is not None:
        return EXIT_INPUT, f"error: {missing}", trace
    hint = "" if debug else " Re-run with --debug for the traceback and report it."
    return EXIT_INTERNAL, f"internal error: {type(error).__name__}: {error}.{hint}", trace


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in tests)
        pass
    finally:
        os.close(devnull)


def _print_warnings(args, caught) -> None:
    """One note per warning category: the first message and how often it recurred (a warning
    raised at every step must not flood the terminal). Deprecation notices from libraries
    (torch's own use of torch.jit.script) are for developers: shown only with --debug."""
    by_category: dict[type, list[str]] = {}
    for warning in caught:
        if issubclass(warning.category, (DeprecationWarning, PendingDeprecationWarning)) and not args.debug:
            continue
        by_category.setdefault(warning.category, []).append(str(warning.message))
    for messages in by_category.values():
        again = f" (and {len(messages) - 1} more like it)" if len(messages) > 1 else ""
        _note(args, f"warning: {messages[0]}{again}")


if __name__ == "__main__":
    sys.exit(main())
