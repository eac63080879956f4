"""rnn-lyapunov: Lyapunov spectra of recurrent neural networks.

Exponents everywhere in this package are in natural log per time step (nats per step),
sorted in descending order.

The public names are imported lazily (PEP 562) so that ``import rnn_lyapunov`` stays cheap and
a command such as ``rnn-lyapunov --help`` does not pay for seaborn or snakemake.
"""

from rnn_lyapunov.lazy_exports import lazy_exports
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnn-lyapunov")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_PUBLIC_NAMES = {
    "lyapunov_spectrum": "rnn_lyapunov.engine.lyapunov",
    "Spectrum": "rnn_lyapunov.engine.spectrum",
    "covariant_lyapunov_vectors": "rnn_lyapunov.engine.covariant",
    "clv_angles": "rnn_lyapunov.engine.covariant_result",
    "unstable_stable_angle": "rnn_lyapunov.engine.covariant_result",
    "NonFiniteStateError": "rnn_lyapunov.errors",
    "register_architecture": "rnn_lyapunov.architectures.registry",
    "available_architectures": "rnn_lyapunov.architectures.registry",
    "create_model": "rnn_lyapunov.architectures.model",
    "from_torch": "rnn_lyapunov.architectures.torch_interop",
    "check_jacobian": "rnn_lyapunov.engine.jacobian_check",
    "register_dataset": "rnn_lyapunov.datasets",
    "available_datasets": "rnn_lyapunov.datasets",
    "load_sweep": "rnn_lyapunov.io.sweep_file",
    "SpectrumMonitor": "rnn_lyapunov.training.monitor",
    "differentiable_exponents": "rnn_lyapunov.engine.differentiable",
    "floss": "rnn_lyapunov.training.flossing",
}

__all__ = ["__version__", *sorted(_PUBLIC_NAMES)]


__getattr__, __dir__ = lazy_exports('rnn_lyapunov', _PUBLIC_NAMES, globals())
