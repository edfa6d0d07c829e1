"""What every figure shares: a strategy's colour, the same in every figure of a report, and
the note a figure carries in place of a plot when its input is absent."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

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


#: where a label may sit around its point, nearest first: (dx, dy) in points
_SPOTS = [(dx * d, dy * d) for d in (5, 12, 20, 30, 42)
          for dx, dy in ((1, -1), (1, 1), (-1, -1), (-1, 1), (1, 0), (-1, 0), (0, 1), (0, -1))]


def place_labels(ax: Axes, points: Sequence[tuple[float, float, str]], *, fontsize: float = 6.5,
                 text_color: str = "#444") -> None:
    """Label each point (x, y in data coordinates) with its text where the text overlaps no
    label placed before it and no point, and stays inside the axes: the nearest free spot of
    rings around the point, joined to it by a thin line. Greedy, in the order given; a label
    with no free spot takes the one it overlaps least. Call it once the axes' scales and limits
    are final: it lays the figure out (as saving would) to measure the texts in pixels."""
    fig = ax.get_figure()
    assert isinstance(fig, Figure)
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # what savefig renders a png with; gives a renderer to measure with
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = ax.get_window_extent(renderer)
    pad = 2.0 * fig.dpi / 72  # points -> pixels
    taken = [Bbox.from_bounds(px - 2 * pad, py - 2 * pad, 4 * pad, 4 * pad)
             for px, py in ax.transData.transform([(x, y) for x, y, _ in points])]
    for x, y, text in points:
        label = ax.annotate(text, (x, y), xytext=(0, 0), textcoords="offset points",
                            fontsize=fontsize, color=text_color,
                            arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "#999", "shrinkA": 0,
                                        "shrinkB": 3})
        best: tuple[float, Bbox, tuple[float, float]] | None = None
        for dx, dy in _SPOTS:
            _put(label, (dx, dy))
            label.update_positions(renderer)  # the text where this spot puts it
            box = Text.get_window_extent(label, renderer).padded(pad / 2)  # the text, not its line
            outside = box.width * box.height - _overlap(box, frame)
            clash = sum(_overlap(box, other) for other in taken) + 10 * outside
            if best is None or clash < best[0]:
                best = (clash, box, (dx, dy))
            if clash == 0:
                break
        assert best is not None
        _, box, spot = best
        _put(label, spot)
        taken.append(box)


def _put(label: Text, spot: tuple[float, float]) -> None:
    """`label` at offset `spot` (points), its text on the side away from its point."""
    dx, dy = spot
    label.set_position(spot)
    label.set_horizontalalignment("left" if dx > 0 else "right" if dx < 0 else "center")
    label.set_verticalalignment("bottom" if dy > 0 else "top" if dy < 0 else "center")


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


__all__ = ["COLORS", "OTHER", "color", "note", "place_labels"]
