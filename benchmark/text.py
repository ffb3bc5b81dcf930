"""Names from results files (agent, version) as text in generated files: markdown cells, plot labels;
and a statistic with its interval as the generated tables write it.

A results file is submitted by anyone, so its names are data: a name never becomes markup in
README.md or docs tables, never a matplotlib math expression, and never carries invisible or
control characters (refused at submit: they could reorder or hide what a table shows).
"""

from __future__ import annotations

import unicodedata

# characters that start markup inside one line of a GitHub-flavoured markdown table cell (links and
# images need "[", autolinks and HTML "<", entities "&"; emphasis, code, strike-through; the cell
# separator "|"): backslash-escaped. Newlines are folded first, so no heading or row can begin.
_MARKDOWN = set("\\|[]<>*_`~&")


def md_cell(text: str) -> str:
    """`text` as the literal content of one markdown table cell: one line, no markup."""
    flat = " ".join(str(text).split())  # newlines and tabs would end the row
    return "".join("\\" + ch if ch in _MARKDOWN else ch for ch in flat)


def interval(x: float, lo: float, hi: float) -> str:
    """A point estimate and its interval as the generated tables show them: "0.46 [0.43, 0.50]"."""
    return f"{x:.2f} [{lo:.2f}, {hi:.2f}]"


def plot_text(text: str) -> str:
    """`text` for a matplotlib label or title, shown as written: `$` never opens math mode."""
    return str(text).replace("$", r"\$")


def name_problems(key: str, text: str) -> list[str]:
    """Why `text` cannot be a displayed name: control characters (NUL, newlines), format
    characters (right-to-left overrides and marks, zero-width characters), line separators."""
    bad = sorted({ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")})
    if not bad:
        return []
    shown = ", ".join(f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}" for ch in bad)
    return [f"{key} contains characters that a table cannot show as written ({shown}); use printable text"]
