"""Every ```python example in README.md and docs/**/*.md runs as printed.

Each runs in a fresh Python process (a plugin or figure it registers cannot leak into other tests)
in an empty temporary working directory, with warnings as errors as in the rest of the suite. The
markers that change this are described in tests/docs_pages.py; a page added under docs/ is run
without editing this file. The line numbers of a traceback are those of the page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from docs_pages import pages, python_blocks

BLOCKS = [block for page in pages() for block in python_blocks(page)]

# One example at a time: set up, then the code, compiled with the page's name and line numbers.
DRIVER = textwrap.dedent("""
    import json, sys, warnings
    warnings.simplefilter("error")
    # torch's forward-mode AD registers its decompositions with torch.jit.script on first use (as in pyproject.toml)
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=DeprecationWarning)
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(0)
    namespace = {"__name__": "__main__"}
    for name, path, line, code in json.load(sys.stdin):
        # as if run as a script saved beside the page: what it defines names the page as its source file
        sys.modules["__main__"].__file__ = path
        exec(compile("\\n" * (line - 1) + code, name, "exec"), namespace)
""")


def _chain(block):
    """The blocks to run for ``block``: the ones it continues from, then itself."""
    chain = [block]
    while chain[0].continues:
        earlier = [other for other in BLOCKS if other.page == chain[0].page and other.line < chain[0].line]
        assert earlier, f"{chain[0].name}: <!-- continue --> but no Python block before it on the page"
        chain.insert(0, earlier[-1])
    return chain


def _program(block):
    program = []
    for part in _chain(block):
        if part.setup:
            program.append([f"{part.name} (setup)", str(part.page), 1, part.setup])
        program.append([part.name.rsplit(":", 1)[0], str(part.page), part.line, part.code])
    return program


def test_the_pages_have_examples_and_skips_are_rare():
    assert len(BLOCKS) >= 15
    skipped = [block.name for block in BLOCKS if block.no_run is not None]
    assert len(skipped) <= 3, f"more than 3 examples are not run: {skipped}"
    assert all(block.no_run for block in BLOCKS if block.no_run is not None), "a no-run marker needs a reason"


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_the_example_runs(block, tmp_path):
    if block.no_run is not None:
        pytest.skip(f"<!-- no-run: {block.no_run} -->")
    import json

    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    result = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(_program(block)), cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{block.name} failed:\n{result.stderr[-4000:]}"
