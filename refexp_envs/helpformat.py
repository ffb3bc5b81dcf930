"""One `--help` style for every RefExp command line: each flag's default, where it says something."""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's `(default: X)` after each flag's help, left out where it would say nothing or say
    it twice: a required option or positional, a default of None or False (an optional value, a
    switch), or a help text that already says what an omitted flag means ("if omitted", "default")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.required
            or not action.option_strings
            or action.default is None
            or action.default is False
            or action.default is argparse.SUPPRESS
            or "if omitted" in text
            or "default" in text
        ):
            return text
        return super()._get_help_string(action)


class RawDescriptionDefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter, DefaultsHelpFormatter):
    """The description as written (examples keep their lines), and the defaults as above."""
