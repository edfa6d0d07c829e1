"""What every figure shares: a strategy's colour, the same in every figure of a report, and
the note a figure carries in place of a plot when its input is absent."""

from __future__ import annotations

from matplotlib.figure import Figure

#: the headline's four, fixed so the eye learns them
COLORS = {"cross_reg": "#d62728", "pbt": "#1f77b4", "grid_cv": "#2ca02c", "asha": "#ff7f0e"}
#: the other strategies, in the order a figure meets them (12 before a colour repeats: the
#: headline figure has 12 methods)
OTHER = ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
         "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#000000"]


def color(strategy: str, seen: dict[str, str]) -> str:
    """`strategy`'s colour: its own, else the next unused one of `OTHER` (`seen` remembers)."""
    if strategy in COLORS:
        return COLORS[strategy]
    if strategy not in seen:
        seen[strategy] = OTHER[len(seen) % len(OTHER)]
    return seen[strategy]


def note(fig: Figure, text: str) -> Figure:
    """`fig` with `text` in its middle: what a figure says where it has nothing to draw."""
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11, color="#555")
    return fig


__all__ = ["COLORS", "OTHER", "color", "note"]
