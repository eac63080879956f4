"""One declaration per setting: the schema file, the settings table of docs/settings.md and engine-error names come from it."""

import re
from pathlib import Path

import pytest

from rnn_lyapunov.config.run_config import DEFAULTS
from rnn_lyapunov.config.schema import workflow_schema_yaml
from rnn_lyapunov.config.settings import SETTINGS, restate, settings_table
from rnn_lyapunov.engine.arguments import check_schedule
from rnn_lyapunov.errors import InputError

ROOT = Path(__file__).parents[1]


def test_the_workflow_schema_file_is_the_generated_one():
    on_disk = (ROOT / "workflow/schemas/config.schema.yaml").read_text()
    assert on_disk == workflow_schema_yaml(), (
        "workflow/schemas/config.schema.yaml is stale: run `python -m rnn_lyapunov.config.schema > "
        "workflow/schemas/config.schema.yaml`")


def test_the_docs_settings_table_is_the_generated_one():
    page = (ROOT / "docs/settings.md").read_text()
    match = re.search(r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", page, re.S)
    assert match is not None and match.group(1) == settings_table(), (
        "the settings table of docs/settings.md is stale: run `python docs/generate_tables.py`")


def test_every_setting_has_a_default_in_the_run_config_defaults():
    for setting in SETTINGS:
        section = DEFAULTS if setting.section is None else DEFAULTS[setting.section]
        assert section[setting.name] == setting.default


@pytest.mark.parametrize(("arguments", "as_flags", "expected"), [
    ({"warmup_steps": 10, "time_steps": 10}, False, r"^config key spectrum\.warmup_steps \(10\) must be smaller"),
    ({"warmup_steps": 10, "time_steps": 10}, True, r"^--warmup-steps \(10\) must be smaller.*lower --warmup-steps"),
    ({"record_every": 3, "reorthonormalize_every": 2}, True,
     r"^--record-every \(3\) must be a multiple of --reorthonormalize-every \(2\)"),
    ({"n_exponents": 9, "state_size": 4}, False, r"^config key spectrum\.n_exponents must be an int in 1\.\.4"),
])
def test_engine_errors_are_restated_in_the_callers_terms(arguments, as_flags, expected):
    with pytest.raises(InputError) as caught:
        check_schedule(**arguments)
    assert re.search(expected, str(restate(caught.value, as_flags=as_flags)))


def test_errors_without_arguments_are_left_as_they_are():
    error = InputError("something else")
    assert restate(error) is error
