"""The per-run dataset a training run writes, from its training state.

``run_record(config, state, ...)`` turns what ``train_run`` keeps per epoch (spectra, metrics, the
running estimate, CLV angles and flossing episodes when those are on) into the per-run layout of
:mod:`rnn_lyapunov.io.run_file`, with the run's hyperparameters and provenance as attributes.
"""

from __future__ import annotations

from rnn_lyapunov.datasets.tasks import TASKS


def run_record(config: dict, state: dict, *, state_size: int, task: str, device: str, flossing=None):
    """The per-run dataset (``rnn_lyapunov.io.run_file``); without flossing, as before the section existed."""
    from rnn_lyapunov.engine.spectrum import Spectrum
    from rnn_lyapunov.io.run_file import HYPERPARAMETER_COORDINATES, run_dataset
    from rnn_lyapunov.io.storage import provenance_attributes

    running = state["running_estimate"] or {}
    spectra = {}
    for epoch, per_trajectory in state["spectra"].items():
        if per_trajectory is not None and epoch <= state["epoch"]:
            recorded = running.get("epoch") == epoch
            spectra[epoch] = Spectrum(per_trajectory=per_trajectory, history=running["history"] if recorded else None,
                                      history_steps=running["steps"] if recorded else None)
    loss_name = TASKS[task].loss_name
    metric_attributes = {
        "train_loss": {"units": "1", "long_name": f"training loss ({loss_name}), mean over the epoch's batches"},
        "val_loss": {"units": "1", "long_name": f"validation loss ({loss_name})"},
        "val_accuracy": {"units": "1", "long_name": "validation accuracy (fraction correct; NaN for regression)"}}
    hyperparameters = {**config, "state_size": state_size}
    kept = config if flossing is not None else {key: value for key, value in config.items() if key != "flossing"}
    attributes = {
        **{name: value for name, value in hyperparameters.items() if not isinstance(value, (dict, list))},
        **{f"spectrum_{key}": value for key, value in config["spectrum"].items()},
        **({} if flossing is None else {f"flossing_{key}": value for key, value in config["flossing"].items()}),
        "task": task, "loss_function": loss_name, **provenance_attributes(kept, device)}
    written = run_dataset(spectra, state["metrics"], n_trajectories=config["spectrum"]["trajectories"],
                          n_exponents=config["spectrum"]["n_exponents"] or state_size, units=config["spectrum"]["units"],
                          hyperparameters={name: hyperparameters[name] for name in HYPERPARAMETER_COORDINATES},
                          metric_attributes=metric_attributes, attributes=attributes,
                          clv_angles=({epoch: angles for epoch, angles in state["clv_angles"].items()
                                       if epoch <= state["epoch"]} if config["spectrum"]["clv_angles"] else None))
    return written if flossing is None else flossing.recorded_in(written)
