"""Small server-rendered SVG charts for the researcher console (no chart library, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import escape

WIDTH = 560
ROW = 22
LABEL = 150


def rating_bounds(rows: Sequence[dict]) -> tuple[float, float]:
    """The lowest and highest rating or interval end of leaderboard rows."""
    lows = [r["ci"][0] for r in rows if r.get("ci") and r["ci"][0] is not None]
    highs = [r["ci"][1] for r in rows if r.get("ci") and r["ci"][1] is not None]
    return min(lows + [r["rating"] for r in rows]), max(highs + [r["rating"] for r in rows])


def leaderboard_svg(
    rows: Sequence[dict],
    label: str = "Leaderboard with 95% intervals",
    bounds: tuple[float, float] | None = None,
) -> str:
    """Ratings as dots with their 95% interval as a bar, best first; `label` names the chart
    to a screen reader; `bounds` (rating_bounds of several boards) puts charts shown side by
    side on one scale."""
    if not rows:
        return ""
    low, high = bounds or rating_bounds(rows)
    low, high = low - 10, high + 10
    span = (high - low) or 1.0
    plot = WIDTH - LABEL - 70

    def x(value: float) -> float:
        return LABEL + (value - low) / span * plot

    height = ROW * len(rows) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" aria-label="{escape(label)}">',
        f'<line x1="{x(1000):.1f}" y1="0" x2="{x(1000):.1f}" y2="{height - 20}" '
        'stroke="#bbb" stroke-dasharray="3,3"/>',
        f'<text x="{x(1000):.1f}" y="{height - 6}" font-size="10" text-anchor="middle" '
        'fill="#555">1000</text>',
    ]
    for index, row in enumerate(rows):
        y = ROW * index + 14
        parts.append(
            f'<text x="{LABEL - 6}" y="{y + 4}" font-size="12" text-anchor="end">'
            f"{escape(row['model'])}</text>"
        )
        ci = row.get("ci") or [None, None]
        if ci[0] is not None and ci[1] is not None:
            parts.append(
                f'<line x1="{x(ci[0]):.1f}" y1="{y}" x2="{x(ci[1]):.1f}" y2="{y}" '
                'stroke="#1f5fbf" stroke-width="3"/>'
            )
        parts.append(f'<circle cx="{x(row["rating"]):.1f}" cy="{y}" r="4" fill="#12263f"/>')
        parts.append(
            f'<text x="{WIDTH - 64}" y="{y + 4}" font-size="11">{row["rating"]:.0f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def agreement_over_time_svg(points: Sequence[tuple[datetime, float | None]]) -> str:
    """Krippendorff's alpha of each stored report, oldest to newest."""
    values = [(t, v) for t, v in points if v is not None]
    if len(values) < 2:
        return ""
    height, pad = 160, 30
    low = min(0.0, min(v for _, v in values))
    high = max(1.0, max(v for _, v in values))
    start, end = values[0][0].timestamp(), values[-1][0].timestamp()
    span_t = (end - start) or 1.0

    def xy(t: datetime, v: float) -> tuple[float, float]:
        return (
            pad + (t.timestamp() - start) / span_t * (WIDTH - 2 * pad),
            height - pad - (v - low) / (high - low) * (height - 2 * pad),
        )

    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in values))
    first, last = values[0][0], values[-1][0]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
        'aria-label="Agreement over time">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{WIDTH - pad}" y2="{height - pad}" '
        'stroke="#999"/>'
        f'<polyline points="{path}" fill="none" stroke="#1f5fbf" stroke-width="2"/>'
        f'<text x="{pad}" y="{height - 8}" font-size="10">{first:%Y-%m-%d %H:%M}</text>'
        f'<text x="{WIDTH - pad}" y="{height - 8}" font-size="10" text-anchor="end">'
        f"{last:%Y-%m-%d %H:%M}</text>"
        f'<text x="4" y="{pad}" font-size="10">{high:.2f}</text>'
        f'<text x="4" y="{height - pad}" font-size="10">{low:.2f}</text>'
        "</svg>"
    )
