"""Formatting for Markdown tables: escaping and number display."""

from __future__ import annotations

import math
import re

import pandas as pd

_SPECIAL = re.compile(r"([\\`*\[\]|<>])")


def escape(text: object) -> str:
    """Make ``text`` safe inside a Markdown table cell: one line, with the
    characters that start code, emphasis, links, HTML or a new cell
    backslash-escaped (underscores inside names are left alone: GitHub
    Markdown does not emphasise within words)."""
    flat = " ".join(str(text).split())
    return _SPECIAL.sub(r"\\\1", flat)


def format_number(value: float) -> str:
    """Four significant digits, no exponent for everyday magnitudes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e6 or magnitude < 1e-3):
        return f"{value:.3e}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def format_cell(mean: float, half_width: float | None) -> str:
    """``mean ± half_width`` (the ± left out when the half-width is missing
    or 0)."""
    if mean is None or pd.isna(mean):
        return "–"
    text = format_number(float(mean))
    if half_width is not None and not pd.isna(half_width) and half_width > 0:
        text += f" ± {format_number(float(half_width))}"
    return text


def table(rows: list[list[str]], header: list[str]) -> str:
    """A GitHub-flavoured Markdown table from already-escaped cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
