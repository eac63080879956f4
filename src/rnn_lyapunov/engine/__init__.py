"""The engine: Lyapunov spectra by repeated QR, the tangent propagators, the result type and
reference systems with known exponents."""

from rnn_lyapunov.engine.lyapunov import DeadDirectionWarning, lyapunov_spectrum
from rnn_lyapunov.engine.spectrum import Spectrum

__all__ = ["DeadDirectionWarning", "Spectrum", "lyapunov_spectrum"]
