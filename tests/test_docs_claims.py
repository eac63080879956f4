"""What README.md and the docs state about defaults and rules matches the code.

The tables of settings and command-line options are generated (docs/generate_tables.py); the few
facts stated in prose (a flag's default, the engine's signature, the numbers of its "auto" rule, the
oldest torch) are read from the pages and compared with the code here, so a change to either side
that leaves the other behind fails.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys

import pytest

from docs_pages import ROOT, pages

sys.path.insert(0, str(ROOT / "docs"))
import generate_tables  # noqa: E402  (docs/generate_tables.py)

# `--flag VALUE` (default X): a default stated in prose next to the flag it belongs to
FLAG_DEFAULT = re.compile(r"`(--[a-z][a-z0-9-]*)(?: [^`]*)?` \(default ([^)]*)\)")


def _defaults_of_flags() -> dict[str, set[str]]:
    """Every way the parsers of `spectrum` and `train` state each flag's default."""
    stated: dict[str, set[str]] = {}
    for command in ("spectrum", "train"):
        for action in generate_tables._subparser(command)._actions:
            for flag in action.option_strings:
                shown = re.findall(r"\(default ([^)]*)\)", action.help or "")
                if action.default is not argparse.SUPPRESS:
                    shown.append("none" if action.default is None else str(action.default))
                stated.setdefault(flag, set()).update(value.split(";")[0].strip() for value in shown)
    return stated


def wrong_flag_defaults(text: str) -> list[str]:
    """The "`--flag ...` (default X)" claims in ``text`` that the command-line parsers contradict."""
    defaults, wrong = _defaults_of_flags(), []
    for flag, claimed in FLAG_DEFAULT.findall(text):
        claimed = claimed.strip("` ").split(";")[0].strip()
        if flag not in defaults:
            wrong.append(f"{flag}: no such option of rnn-lyapunov spectrum or train")
        elif claimed not in defaults[flag] and not any(claimed.startswith(value) for value in defaults[flag] if value):
            wrong.append(f"{flag}: the page says default {claimed!r}, the parser {sorted(defaults[flag])}")
    return wrong


# `key` (default X): a setting's default stated in prose
KEY_DEFAULT = re.compile(r"`([a-z_]+(?:\.[a-z_]+)?)` \(default ([^)]*)\)")


def wrong_setting_defaults(text: str) -> list[str]:
    """The "`setting.key` (default X)" claims in ``text`` that the settings table contradicts."""
    from rnn_lyapunov.config.settings import BY_KEY

    wrong = []
    for key, claimed in KEY_DEFAULT.findall(text):
        if key in BY_KEY:
            default = BY_KEY[key].default
            expected = "null" if default is None else str(default)
            if claimed.strip("` ").split(";")[0].strip() not in (expected, str(default)):
                wrong.append(f"{key}: the page says default {claimed!r}, the settings {expected!r}")
    return wrong


@pytest.mark.parametrize(("page", "table"), [(page, name) for page, tables in generate_tables.TABLES.items()
                                             for name in tables])
def test_the_generated_tables_are_current(page, table):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    expected = generate_tables.TABLES[page][table]()
    match = re.search(rf"<!-- {table}:start -->\n(.*?)\n<!-- {table}:end -->", text, re.S)
    assert match is not None, f"docs/{page} lost its <!-- {table}:start/end --> markers"
    assert match.group(1) == expected, f"docs/{page}: the table {table} is stale: run `python docs/generate_tables.py`"


def test_the_generated_option_tables_show_the_parsers_defaults():
    # The bug this guards against: prose said --reorthonormalize-every defaults to 1; the code says auto.
    table = generate_tables.flags_table("spectrum")
    row = next(line for line in table.splitlines() if line.startswith("| `--reorthonormalize-every`"))
    assert "(default auto)" in row
    assert "(default float64)" in next(line for line in table.splitlines() if line.startswith("| `--dtype`"))


def test_the_flag_default_checker_catches_a_wrong_claim():
    assert wrong_flag_defaults("`--reorthonormalize-every M` (default 1), `--dtype float32|float64` (default float64)") \
        == ["--reorthonormalize-every: the page says default '1', the parser ['auto']"]
    assert wrong_flag_defaults("`--warmup-steps W` (default 0), `--n-exponents K` (default all)") == []


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_defaults_stated_in_prose_match_the_code(page):
    text = page.read_text(encoding="utf-8")
    assert wrong_flag_defaults(text) + wrong_setting_defaults(text) == []


def test_the_setting_default_checker_catches_a_wrong_claim():
    assert wrong_setting_defaults("`spectrum.trajectories` (default 16) and `hidden_size` (default 64)") == [
        "spectrum.trajectories: the page says default '16', the settings '8'"]


def test_the_engine_signature_on_the_engine_page_is_the_functions():
    from rnn_lyapunov import lyapunov_spectrum

    text = re.sub(r"\s+", " ", (ROOT / "docs/engine.md").read_text(encoding="utf-8"))
    stated = re.search(r"`lyapunov_spectrum\((system, inputs, \*, [^`]*)\)`", text).group(1)
    actual = ", ".join(
        name if parameter.default is inspect.Parameter.empty else f"{name}={parameter.default!r}".replace("'", '"')
        for name, parameter in inspect.signature(lyapunov_spectrum).parameters.items())
    assert stated == actual.replace("inputs, ", "inputs, *, ", 1)


def test_the_auto_rule_states_the_engines_thresholds():
    from rnn_lyapunov.engine import method, schedule

    page = (ROOT / "docs/engine.md").read_text(encoding="utf-8")
    rule = re.search(r"<!-- auto-method-rule:start -->(.*?)<!-- auto-method-rule:end -->", page, re.S).group(1)
    rule = re.sub(r"\s+", " ", rule)
    assert f"at least {method.SQUARE_MIN_COLUMNS} columns" in rule
    assert method.SQUARE_MIN_FRACTION == 0.25 and "more than a quarter of the tangent dimension" in rule
    assert f"from {method.LU_MIN_COLUMNS} columns on" in rule
    text = re.sub(r"\s+", " ", page)
    tolerance = schedule.DEFAULT_TOLERANCE
    import torch

    assert (f"default {_short(tolerance[torch.float64])} for a float64 network, {_short(tolerance[torch.float32])} for a "
            "float32 one") in text
    assert f"a margin of {schedule.SPREAD_MARGIN:g} for bursts" in text
    assert schedule.QR_COST_IN_LUS == 3 and "costs about three LUs" in text
    assert page.count("<!-- auto-method-rule:start -->") == 1  # the rule is stated once


def _short(number: float) -> str:
    """1e-06 -> "1e-6", as the pages write it."""
    mantissa, exponent = f"{number:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def test_the_torch_and_python_versions_the_pages_promise_are_the_packages():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (torch_requirement,) = [req for req in project["dependencies"] if req.startswith("torch")]
    oldest = re.search(r">=\s*([\d.]+)", torch_requirement).group(1)
    python = re.search(r">=\s*([\d.]+)", project["requires-python"]).group(1)
    for page in (ROOT / "README.md", ROOT / "docs/getting-started.md"):
        text = page.read_text(encoding="utf-8")
        assert re.findall(r"torch ([\d.]+) or later", text) == [oldest], page
        assert set(re.findall(r"python(3\.\d+) -m venv", text)) == {python}, page


def test_the_first_commands_of_the_readme_and_getting_started_agree():
    def commands(page):
        return re.findall(r"^python3\.\d+ -m venv .*$", (ROOT / page).read_text(encoding="utf-8"), re.M)

    readme = commands("README.md")
    assert len(readme) == 2 and readme == commands("docs/getting-started.md")
    assert readme[0].endswith("snakemake --cores all") and readme[1].endswith("&& pytest")


def _shell_commands():
    """(page, command) for every command line of the pages' ```bash blocks (continuations joined, comments cut)."""
    import shlex

    found = []
    for page in pages():
        for block in re.findall(r"^```bash\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0].strip()
                if line and not line.startswith("#"):
                    for command in line.split("&&"):
                        found.append((page, shlex.split(command.strip())))
    return found


def test_the_rnn_lyapunov_commands_the_pages_show_are_accepted_by_the_parser():
    from rnn_lyapunov.cli.commands import build_parser

    commands = [(page, words) for page, words in _shell_commands() if words[0] == "rnn-lyapunov"]
    assert len(commands) >= 8
    for page, words in commands:
        try:
            build_parser().parse_args(words[1:])
        except SystemExit:
            pytest.fail(f"{page.relative_to(ROOT)}: `{' '.join(words)}` is refused by the parser")


def test_the_files_the_snakemake_commands_name_exist():
    commands = [(page, words) for page, words in _shell_commands() if words[0] == "snakemake"]
    assert len(commands) >= 10
    for page, words in commands:
        for option in ("--configfile", "--profile"):
            if option in words:
                path = words[words.index(option) + 1]
                assert path == "my_sweep.yaml" or (ROOT / path).exists(), f"{page.relative_to(ROOT)}: {path} does not exist"


def test_what_the_pages_say_of_the_default_workflow_is_config_yaml():
    import yaml

    from rnn_lyapunov.config.sweep import expand_sweep

    config = yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))
    runs = len(expand_sweep(config))
    cross = config["sweep"]["cross"]
    epochs = ", ".join(map(str, config["spectrum"]["epochs"][:-1])) + f" and {config['spectrum']['epochs'][-1]}"

    def flat(page):
        return re.sub(r"\s+", " ", (ROOT / page).read_text(encoding="utf-8"))

    for page in ("README.md", "docs/getting-started.md"):
        assert f"a training sweep of {runs} networks" in flat(page), page
    assert f"({runs} small RNNs and GRUs on a signal-copy task, with spectra at initialisation and after epochs {epochs})" \
        in flat("README.md")
    counts = " x ".join(f"{['', 'one', 'two', 'three', 'four', 'five'][len(cross[key])]} {name}" for key, name in
                        (("init_scale", "init scales"), ("learning_rate", "learning rates"), ("seed", "seeds")))
    assert (f"{runs} small runs on `signal_copy` (RNN, GRU x {counts}, hidden size {config['training']['hidden_size']}, "
            f"{config['training']['epochs']} epochs)") in flat("docs/workflow.md")
    assert f"at initialisation and after epochs {epochs}), {runs} runs" in flat("docs/figures.md")
