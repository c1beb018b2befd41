"""Benchmark harness behind ``porthos bench`` (see benches/README.md).

Each benchmark times porthos against a peer doing the same job in the same run and
reports medians of repeats, ratios and peak RSS, so numbers from different machines are
compared by their ratios, not by their absolute values.
"""

from __future__ import annotations
