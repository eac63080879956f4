"""Re-triangularising the tangent frame: Householder QR, or LU with partial pivoting.

Both write the propagated frame ``V`` (batch, n, k) as ``V = T U`` with ``U`` (k, k) upper
triangular, return the new frame ``T`` and ``log |diag U|`` (float64), and keep the flag of the
frame: the first j columns of ``T`` span the same subspace as the first j of ``V``.

Why LU gives the same exponents. Over an averaging window the frames satisfy
``J_t ... J_1 Q_0 = T_t U_t ... U_1``; one Householder QR of the last frame, ``T_t = Q R``, turns
this into a QR decomposition of the whole product, ``Q (R U_t ... U_1)``, whose diagonal is
``diag R * prod diag U_s``. QR every step (Benettin et al. 1980) has the same product and so the
same diagonal, in exact arithmetic. The engine therefore closes every averaging window (end of
warm-up, each record step, the last step) with a QR, which folds ``log |diag R|`` of the last LU
frame into the sums and hands on an orthonormal frame; between those, LU is enough. With partial
pivoting ``T = P L`` has entries of modulus <= 1 and a unit entry in each pivot row, so it stays
well conditioned (condition numbers of 40-250 measured on 64- and 256-dimensional RNN frames).

Cost and accuracy, measured on this project's reference machine (batch 16, 2 threads): LU with
the unpacking of ``P L`` is 2-4x cheaper than ``torch.linalg.qr`` (``geqrf`` + ``orgqr``) on square
frames of 64-256. Its roundoff is larger than QR's by a factor that grows with n (GEPP's
backward error is bounded by a multiple of ``n eps |L| |U|``, Golub & Van Loan sec. 3.3): against
float64 QR every step along the same trajectories, float64 LU every step was within 1e-13 for the
leading half and 2e-9 for the whole spectrum of tanh RNNs, LSTMs and GRUs; float32 LU was 2-15x
less accurate than float32 QR. :data:`ERROR_FACTOR` carries this into the adaptive interval.
"""

from __future__ import annotations

import numpy as np
import torch

QR, LU = "qr", "lu"
FACTORIZATIONS = (QR, LU)
# PyTorch's CPU lu_factor runs the matrices of a batch on several threads at once, and MKL's getrf is
# not safe to run that way above a size: wrong factors or a hang (pytorch/pytorch#181570; seen here
# from n = 145 with 2 threads). Up to this many rows a batch is factorised in one call, above it one
# matrix at a time (each call is then a single getrf, which MKL threads safely by itself).
BATCHED_LU_MAX_ROWS = 64


def householder(frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """QR of each frame: (batch, n, k) -> (Q (batch, n, k), log|diag R| in float64 (batch, k))."""
    orthonormal, triangular = torch.linalg.qr(frame)
    return orthonormal, triangular.diagonal(dim1=-2, dim2=-1).abs().double().log()


class LUFactorization:
    """LU with partial pivoting of each frame: (batch, n, k) -> (T = P L (batch, n, k), log|diag U| (batch, k)).

    ``T`` comes back column-major (a transposed view of a contiguous (batch, k, n) tensor), the
    layout that the propagators and LAPACK work in. The instance keeps its work tensors from one
    call to the next, because a fresh multi-megabyte tensor per step costs more in page faults than
    the arithmetic on it (2x measured on a 16 x 256 x 256 float64 frame), and it factorises a
    column-major frame in place: the frame passed in is overwritten, and the ``T`` returned is
    overwritten by the next call.
    """

    def __init__(self):
        self.buffers: dict[str, torch.Tensor] = {}
        self.masks_key, self.masks = None, None

    def _buffer(self, name: str, shape, dtype, device) -> torch.Tensor:
        buffer = self.buffers.get(name)
        if buffer is None or buffer.shape != torch.Size(shape) or buffer.dtype != dtype or buffer.device != device:
            buffer = self.buffers[name] = torch.empty(shape, dtype=dtype, device=device)
        return buffer

    def _masks(self, rows: int, columns: int, dtype, device):
        """The strictly lower entries of L as a mask on L^T (k, n), and L's unit diagonal on L^T (k, n)."""
        key = (rows, columns, dtype, device)
        if self.masks_key != key:
            index_rows = torch.arange(columns, device=device).unsqueeze(1)
            index_columns = torch.arange(rows, device=device).unsqueeze(0)
            self.masks = (index_columns > index_rows, (index_columns == index_rows).to(dtype))
            self.masks_key = key
        return self.masks

    def factors(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``torch.linalg.lu_factor_ex`` of each frame: (LU (batch, n, k), column-major; pivots (batch, k), 1-based).

        In place when ``frame`` is column-major. Sidesteps PyTorch's unsafe multi-threaded batch on
        the CPU (:data:`BATCHED_LU_MAX_ROWS`). A zero pivot (a singular frame) is not an error here:
        its ``log |U_jj|`` is -inf.
        """
        batch, rows, columns = frame.shape
        if frame.transpose(1, 2).is_contiguous():
            factors = frame
        else:
            factors = self._buffer("factors", (batch, columns, rows), frame.dtype, frame.device).transpose(1, 2)
        pivots = self._buffer("pivots", (batch, min(rows, columns)), torch.int32, frame.device)
        info = self._buffer("info", (batch,), torch.int32, frame.device)
        if frame.device.type != "cpu" or rows <= BATCHED_LU_MAX_ROWS or torch.get_num_threads() == 1:
            torch.linalg.lu_factor_ex(frame, out=(factors, pivots, info))
        else:  # one getrf per matrix: MKL threads each one safely by itself
            for index in range(batch):
                torch.linalg.lu_factor_ex(frame[index], out=(factors[index], pivots[index], info[index]))
        return factors, pivots

    @staticmethod
    def row_order(factors: torch.Tensor, pivots: torch.Tensor) -> torch.Tensor:
        """(batch, n) int64: row j of L is row ``order[j]`` of T = P L.

        LAPACK's pivots are the row swaps (j, pivots[j] - 1) applied in turn; on the CPU LAPACK's
        own ``laswp`` replays them on the column 0..n-1 (16 x 256 pivots: 52 us, against 624 us for
        the same loop in Python), elsewhere they are read off ``torch.lu_unpack``'s P.
        """
        batch, rows = factors.shape[:2]
        if factors.device.type != "cpu":
            return torch.lu_unpack(factors, pivots, unpack_data=False)[0].argmax(dim=1)
        from scipy.linalg.lapack import dlaswp  # imported on first use: SciPy's LAPACK takes ~0.1 s to load

        swaps = pivots.numpy() - 1  # SciPy's wrapper takes 0-based pivots
        positions = np.arange(rows, dtype=np.float64).reshape(rows, 1)  # exact up to 2^53
        order = np.empty((batch, rows), dtype=np.int64)
        for index in range(batch):
            order[index] = dlaswp(positions, swaps[index])[:, 0]
        return torch.from_numpy(order)

    def __call__(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, rows, columns = frame.shape
        factors, pivots = self.factors(frame)
        log_growth = factors.diagonal(dim1=-2, dim2=-1).abs().double().log()
        below, unit = self._masks(rows, columns, frame.dtype, frame.device)
        # L^T (batch, k, n): the strictly upper part of the transposed factors, ones on the diagonal
        lower_transposed = self._buffer("lower_transposed", (batch, columns, rows), frame.dtype, frame.device)
        torch.where(below, factors.transpose(1, 2), unit, out=lower_transposed)
        frame_rows = self._buffer("frame_rows", (batch, columns, rows), frame.dtype, frame.device)
        order = self.row_order(factors, pivots)
        frame_rows.scatter_(2, order.unsqueeze(1).expand(batch, columns, rows), lower_transposed)
        return frame_rows.transpose(1, 2), log_growth


def error_factor(factorization: str, rows: int) -> float:
    """How much more roundoff one factorization adds than Householder QR, per tracked direction.

    1 for QR; ``rows`` (the tangent dimension n) for LU, the size of GEPP's backward-error bound
    relative to Householder's (measured ratios on RNN frames: 2-50 at n = 64-256).
    """
    return 1.0 if factorization == QR else float(rows)
