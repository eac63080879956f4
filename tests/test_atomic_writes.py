"""Never lose data: a writer killed (SIGKILL) in the middle of a write leaves the previous file intact.

Each test starts a child Python process that overwrites ``target`` through one of the atomic
helpers of ``rnn_lyapunov.io.storage``. The child is made to stall in the middle of the write (after
real bytes have reached the temporary file) and announces that on stdout; the test then kills it
with SIGKILL, which no ``finally`` block survives, and checks that ``target`` still holds exactly
the previous content and that nothing else appeared under its name.
"""

import os
import select
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

# The child prints this line once it is in the middle of writing, then sleeps until killed.
READY = "WRITING"

CHILD_PRELUDE = """
import sys, time
from pathlib import Path
target = Path(sys.argv[1])

def stall():
    print("WRITING", flush=True)
    time.sleep(600)
"""

WRITERS = {
    # Raw bytes through atomic_path: one chunk written and flushed, then the writer stalls.
    "atomic_path": """
from rnn_lyapunov.io.storage import atomic_path
with atomic_path(target) as temporary:
    with open(temporary, "wb") as handle:
        handle.write(b"new" * 1_000_000)
        handle.flush()
        stall()
""",
    # torch.save streams a 4 MB tensor through a file object that stalls once 1 MB is on disk.
    "save_torch_atomic": """
import io
import torch
from rnn_lyapunov.io.storage import save_torch_atomic

class StallAfterOneMegabyte(io.FileIO):
    def write(self, data):
        written = super().write(data)
        if self.tell() > 1_000_000:
            self.flush()
            stall()
        return written

original_save = torch.save
torch.save = lambda obj, path: original_save(obj, StallAfterOneMegabyte(path, "wb"))
save_torch_atomic({"weights": torch.ones(1_000_000)}, target)
""",
    # netCDF4 stalls after writing the first variable of two.
    "write_netcdf_atomic": """
import numpy as np
import xarray as xr
from xarray.backends import netCDF4_
from rnn_lyapunov.io.storage import write_netcdf_atomic

original_setitem = netCDF4_.NetCDF4ArrayWrapper.__setitem__
def setitem_then_stall(self, key, value):
    original_setitem(self, key, value)
    self.datastore.ds.sync()
    stall()
netCDF4_.NetCDF4ArrayWrapper.__setitem__ = setitem_then_stall
dataset = xr.Dataset({"a": ("x", np.arange(500_000.0)), "b": ("x", np.zeros(500_000))})
write_netcdf_atomic(dataset, target)
""",
}


def _kill_mid_write(writer: str, target) -> list[str]:
    """Run the writer in a child, SIGKILL it once it reports being mid-write; return the directory listing."""
    script = textwrap.dedent(CHILD_PRELUDE) + textwrap.dedent(WRITERS[writer])
    child = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        # Wait until the child is mid-write (or dies); the timeout keeps a stuck child from hanging the suite.
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready, "the writer did not reach the middle of the write within 120 s"
        line = child.stdout.readline()
        assert line.strip() == READY, f"writer never reached the middle of the write: {child.stderr.read()}"
        partial = [path for path in target.parent.iterdir() if path.name != target.name]
        assert partial and any(path.stat().st_size > 0 for path in partial), "no bytes reached the temporary file"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return sorted(path.name for path in target.parent.iterdir())


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_killed_writer_leaves_previous_file_intact(tmp_path, writer):
    target = tmp_path / "result.nc"
    previous = b"previous complete file\n" * 100
    target.write_bytes(previous)

    listing = _kill_mid_write(writer, target)

    assert target.read_bytes() == previous
    # The only other entry is the hidden temporary file, never something under the final name.
    others = [name for name in listing if name != target.name]
    assert all(name.startswith(".result.") and ".partial" in name for name in others), listing


def test_killed_first_write_creates_no_file_under_final_name(tmp_path):
    target = tmp_path / "result.nc"

    _kill_mid_write("atomic_path", target)

    assert not target.exists()
