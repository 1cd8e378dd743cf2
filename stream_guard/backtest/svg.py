"""Small inline SVG charts for the HTML report: drawn here, so the report needs no script,
no font and no network to show them, and prints as it looks.

Every mark (``class="mark"``) carries a ``<title>``, which browsers show as a tooltip, and
every text comes through :func:`esc`: rule ids, users and reasons come from rule files and
events, and must never become markup.

>>> '<rect class="mark"' in columns(["a", "b"], [("r", "#000", [1, 2])])
True
>>> esc('<script>"x"</script>')
'&lt;script&gt;&quot;x&quot;&lt;/script&gt;'
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

#: Tableau 10: distinct, colour-blind-friendlier hues; rules take them in rank order.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
OTHER = "#cfcfcf"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def nice_max(v: float) -> float:
    """The smallest 1, 2 or 5 × 10ⁿ at least ``v`` (an axis top).

    >>> nice_max(0), nice_max(7), nice_max(13), nice_max(0.42)
    (1.0, 10.0, 20.0, 0.5)
    """
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 5, 10):
        if v <= m * mag + 1e-12:
            return float(m * mag)
    return float(10 * mag)


def short(v: float) -> str:
    """A threshold or amount as people read it.

    >>> short(30_000_000), short(2.5e6), short(1500), short(12), short(0.5)
    ('30M', '2.5M', '1,500', '12', '0.5')
    """
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.4g}M"
    if float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _num(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2g}"


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{esc(label)}" {FONT}>' + "".join(body) + "</svg>"
    )


def _ticks(top: float, integer: bool) -> list[float]:
    """Axis ticks from 0 to ``top`` (a :func:`nice_max`) at a round step.

    >>> _ticks(5, True), _ticks(20, True), _ticks(2, True), _ticks(1.0, False)
    ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 5.0, 10.0, 15.0, 20.0], [0.0, 1.0, 2.0], [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    """
    lead = round(top / 10 ** math.floor(math.log10(top)))
    intervals = 4 if lead == 2 else 5
    if integer and top / intervals < 1:
        intervals = max(1, round(top))
    return [round(top * i / intervals, 10) for i in range(intervals + 1)]


def _y_axis(x0: int, y0: int, h: int, top: float, width: int, integer: bool = True) -> list[str]:
    out = []
    for v in _ticks(top, integer):
        y = y0 + h - h * v / top
        out.append(f'<line x1="{x0}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{_num(v)}</text>')
    return out


def columns(
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    width: int = 960,
    height: int = 260,
    highlight: int | None = None,
    label: str = "chart",
) -> str:
    """Stacked columns: one per category (a day, a threshold), one colour per series
    ``(name, colour, values)``. ``highlight`` outlines one column (the current threshold)."""
    x0, y0, h = 56, 12, height - 48
    n = max(1, len(categories))
    step = (width - x0 - 10) / n
    bar = max(1.0, step * 0.8)
    totals = [sum(s[2][i] for s in series) for i in range(len(categories))]
    top = nice_max(max(totals, default=0))
    body = _y_axis(x0, y0, h, top, width)
    every = max(1, math.ceil(n / 12))
    for i, cat in enumerate(categories):
        x = x0 + i * step + (step - bar) / 2
        y = y0 + h
        for name, colour, values in series:
            v = values[i]
            if not v:
                continue
            bh = h * v / top
            y -= bh
            body.append(
                f'<rect class="mark" data-series="{esc(name)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{max(bh, 0.5):.1f}" fill="{colour}"><title>{esc(cat)} · {esc(name)}: {_num(v)}</title></rect>'
            )
        if highlight == i:
            body.append(
                f'<rect x="{x - 2:.1f}" y="{y0:.1f}" width="{bar + 4:.1f}" height="{h:.1f}" fill="none" '
                f'stroke="#333" stroke-dasharray="3 2"/>'
            )
        if i % every == 0:
            body.append(
                f'<text x="{x + bar / 2:.1f}" y="{y0 + h + 16}" text-anchor="middle" fill="#444">{esc(cat)}</text>'
            )
    body.append(f'<line x1="{x0}" x2="{width - 10}" y1="{y0 + h}" y2="{y0 + h}" stroke="#999"/>')
    return _svg(width, height, body, label)


def hbars(
    rows: Sequence[tuple[str, Sequence[tuple[float, str, str]]]],
    *,
    width: int = 720,
    label_width: int = 240,
    top: float | None = None,
    percent: bool = False,
    label: str = "chart",
) -> str:
    """Horizontal stacked bars: ``(row label, [(value, colour, tooltip), …])`` per row."""
    row_h, pad = 20, 4
    height = len(rows) * (row_h + pad) + 24
    top = top or nice_max(max((sum(p[0] for p in parts) for _, parts in rows), default=0))
    span = width - label_width - 70
    body = []
    for r, (name, parts) in enumerate(rows):
        y = 4 + r * (row_h + pad)
        body.append(
            f'<text x="{label_width - 8}" y="{y + 14}" text-anchor="end" fill="#222">{esc(name)}</text>'
        )
        x = float(label_width)
        total = 0.0
        for value, colour, tip in parts:
            if value <= 0:
                continue
            w = max(1.0, span * value / top)
            body.append(
                f'<rect class="mark" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h}" fill="{colour}">'
                f"<title>{esc(tip)}</title></rect>"
            )
            x += w
            total += value
        text = f"{total:.0%}" if percent else _num(total)
        body.append(f'<text x="{x + 6:.1f}" y="{y + 14}" fill="#444">{text}</text>')
    axis_y = height - 16
    body.append(f'<line x1="{label_width}" x2="{label_width + span}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>')
    for v in _ticks(top, not percent):
        x = label_width + span * v / top
        text = f"{v:.0%}" if percent else _num(v)
        body.append(f'<text x="{x:.1f}" y="{axis_y + 13}" text-anchor="middle" fill="#666">{text}</text>')
    return _svg(width, height, body, label)


def diverging(
    rows: Sequence[tuple[str, float, float]], *, width: int = 720, label_width: int = 240, label: str = "chart"
) -> str:
    """``(label, lost, gained)`` per row: lost to the left in red, gained to the right in green."""
    row_h, pad = 18, 4
    height = len(rows) * (row_h + pad) + 10
    top = nice_max(max((max(lost, gained) for _, lost, gained in rows), default=0))
    half = (width - label_width - 20) / 2
    mid = label_width + half
    body = [f'<line x1="{mid}" x2="{mid}" y1="0" y2="{height}" stroke="#999"/>']
    for r, (name, lost, gained) in enumerate(rows):
        y = 4 + r * (row_h + pad)
        body.append(f'<text x="{label_width - 8}" y="{y + 13}" text-anchor="end" fill="#222">{esc(name)}</text>')
        if lost:
            w = max(1.0, half * lost / top)
            body.append(f'<rect class="mark" x="{mid - w:.1f}" y="{y}" width="{w:.1f}" height="{row_h}" '
                        f'fill="#d6604d"><title>{esc(name)}: {_num(lost)} lost</title></rect>')
        if gained:
            w = max(1.0, half * gained / top)
            body.append(f'<rect class="mark" x="{mid:.1f}" y="{y}" width="{w:.1f}" height="{row_h}" '
                        f'fill="#4dac26"><title>{esc(name)}: {_num(gained)} gained</title></rect>')
    return _svg(width, height, body, label)


def sparkline(values: Sequence[float], *, width: int = 140, height: int = 22, colour: str = PALETTE[0]) -> str:
    """Tiny columns, one per value (a rule's decisions per day)."""
    n = max(1, len(values))
    top = max(values, default=0) or 1
    step = width / n
    body = [f'<line x1="0" x2="{width}" y1="{height - 0.5}" y2="{height - 0.5}" stroke="#ccc"/>']
    for i, v in enumerate(values):
        if v:
            bh = max(1.0, (height - 2) * v / top)
            body.append(f'<rect class="mark" x="{i * step:.2f}" y="{height - bh:.2f}" '
                        f'width="{max(step * 0.85, 0.8):.2f}" height="{bh:.2f}" fill="{colour}"/>')
    return _svg(width, height, body, "decisions per day")


def heatmap(
    labels: Sequence[str], share: Sequence[Sequence[float]], counts: Sequence[Sequence[int]],
    *, cell: int = 26, label_width: int = 240, label: str = "chart",
) -> str:
    """Rows × columns of ``share`` in [0, 1] (a row rule's decisions that overlap the column
    rule), darker for more; the count and share in each cell's tooltip."""
    n = len(labels)
    top_h = 150
    width = label_width + n * cell + 110  # room for the last slanted column label
    height = top_h + n * cell + 10
    body = []
    for j, name in enumerate(labels):
        x = label_width + j * cell + cell / 2
        body.append(f'<text transform="translate({x + 4:.1f},{top_h - 6}) rotate(-60)" fill="#222">{esc(name)}</text>')
    for i, name in enumerate(labels):
        y = top_h + i * cell
        body.append(f'<text x="{label_width - 8}" y="{y + cell / 2 + 4:.1f}" text-anchor="end" fill="#222">{esc(name)}</text>')
        for j in range(n):
            x = label_width + j * cell
            if i == j:
                body.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="#f3f3f3"/>')
                continue
            v = share[i][j]
            fill = _blend(v)
            body.append(
                f'<rect class="mark" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}">'
                f"<title>{esc(name)} → {esc(labels[j])}: {counts[i][j]:,} decisions ({v:.0%})</title></rect>"
            )
            if v >= 0.005:
                ink = "#fff" if v > 0.55 else "#222"
                body.append(f'<text x="{x + (cell - 2) / 2}" y="{y + cell / 2 + 3}" text-anchor="middle" '
                            f'font-size="9" fill="{ink}">{round(v * 100)}</text>')
    return _svg(width, height, body, label)


def _blend(v: float) -> str:
    """White to dark blue."""
    v = min(1.0, max(0.0, v))
    lo, hi = (255, 255, 255), (8, 48, 107)
    r, g, b = (round(a + (c - a) * v) for a, c in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"
