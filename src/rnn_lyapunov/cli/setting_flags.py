"""Command-line flags generated from the settings table (``rnn_lyapunov.config.settings``).

Each flag's name, help and allowed values come from its :class:`Setting`; a value is read as YAML
(``null``, ``0.5``, ``[1, 2]``) and checked against the setting's schema before anything runs.
"""

from __future__ import annotations

import argparse

from rnn_lyapunov.config.settings import BY_KEY, describe_allowed


def _parser_for(setting):
    def parse(text: str):
        import yaml

        from rnn_lyapunov.config.schema import validator

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        if any(True for _ in validator(setting.schema).iter_errors(value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: {describe_allowed(setting.schema)}")
        return value

    parse.__name__ = setting.name  # argparse names the type in its messages
    return parse


def add_setting_flags(group, keys, *, defaults: dict | None = None, notes: dict | None = None,
                      suppress: bool = False) -> None:
    """Add one flag per settings key to an argparse group.

    ``defaults``: key -> default for this command; ``notes``: key -> what the default means, shown in
    the help instead of the bare value; ``suppress``: a flag not
    given leaves no attribute at all, so it overrides a config file only when given.
    """
    for key in keys:
        setting = BY_KEY[key]
        default = argparse.SUPPRESS if suppress else (defaults or {}).get(key, setting.default)
        note = (notes or {}).get(key, "none" if default is None else default)
        shown = "" if suppress else f" (default {note})"
        group.add_argument(setting.flag, dest=key, type=_parser_for(setting), default=default,
                           metavar=setting.metavar or setting.name.upper(), help=setting.help + shown)


def given_settings(args: argparse.Namespace, keys) -> dict:
    """``{key: value}`` of the settings flags present in ``args``."""
    return {key: getattr(args, key) for key in keys if hasattr(args, key)}
