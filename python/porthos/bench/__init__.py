"""Benchmark harness behind ``porthos bench`` (see benches/README.md).

Each benchmark times porthos against a peer doing the same job in the same run and
reports medians of repeats, ratios and peak RSS, so numbers from different machines are
compared by their ratios, not by their absolute values.
"""

from __future__ import annotations

import importlib.util

from porthos.exceptions import MissingExtraError


def can_plot() -> bool:
    """Whether matplotlib (the optional ``plot`` extra) is installed; does not import it,
    so a bench without plots never loads matplotlib."""
    return importlib.util.find_spec("matplotlib") is not None


def require_plot() -> None:
    """Refuse a requested plot up front, before a long run, when matplotlib is missing."""
    if not can_plot():
        raise MissingExtraError(
            "plots need matplotlib, which is not installed: pip install 'porthos[plot]'"
        )
