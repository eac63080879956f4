"""What ``rnn-lyapunov spectrum`` and ``clv`` share: a network from a state dict and the input
sequences that drive it, each checked before any computation starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from rnn_lyapunov.errors import InputError

DEFAULT_DATA_ROOT = Path("results") / "data"


@dataclass
class NetworkAndInputs:
    model: torch.nn.Module  # built from the weights, on the CPU, in float32
    sizes: dict  # input_size, hidden_size, num_layers (given or inferred)
    inputs: torch.Tensor  # (trajectories, time, input_size), the chosen sequences
    source: str  # where the inputs came from, in words
    weights_layout: str  # how the state dict was read
    options: dict  # the plugin options


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


def load_network_and_inputs(args, note, *, trajectories: int | None, steps: int | None) -> NetworkAndInputs:
    """The network of ``--architecture``/``--state-dict`` (plugins loaded, sizes given or inferred)
    and ``trajectories`` sequences of ``steps`` steps from ``--dataset`` or ``--inputs`` (None: all,
    whole), chosen at random with ``--seed`` when set. Every mistake is an InputError naming the flag."""
    from rnn_lyapunov.architectures.registry import get_architecture, load_plugin_paths
    from rnn_lyapunov.io.inputs import check_inputs_array, read_inputs_file, select_sequences
    from rnn_lyapunov.io.weights import build_model_from_weights, interpret_state_dict, load_weights_file

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
    input_size = next(size for size in (args.input_size, weights.input_size, raw_inputs.shape[2]) if size is not None)
    model, sizes = build_model_from_weights(weights, args.architecture, hidden_size=args.hidden_size,
                                            num_layers=args.num_layers, input_size=input_size, options=options,
                                            path=args.state_dict)
    raw_inputs = check_inputs_array(raw_inputs, source=source, input_size=sizes["input_size"])
    inputs = select_sequences(raw_inputs, trajectories=trajectories, steps=steps, seed=args.seed,
                              concatenate=args.dataset is not None, source=source)
    return NetworkAndInputs(model, sizes, inputs, source, weights.layout, options)
