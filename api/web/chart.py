"""The dashboard's chart: orders placed and compensated per minute over the last hour, drawn as SVG bars.

Pure geometry (no I/O), so the shape of the chart is tested without a browser; the template only draws it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.ordering.store import MinuteActivity

WIDTH = 720
HEIGHT = 200
LEFT = 32  # room for the axis labels
RIGHT = 40
BOTTOM = 20
TOP = 10
MINUTES = 60


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # "placed" or "compensated"
    label: str  # what a screen reader or a tooltip says


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    start: datetime
    end: datetime
    plot_left: int
    plot_bottom: int
    total_placed: int
    total_compensated: int


def minute_chart(activity: Sequence[MinuteActivity], now: datetime, minutes: int = MINUTES) -> Chart:
    """Two bars per minute (placed, compensated) for the `minutes` minutes up to `now`, scaled to the peak."""
    end = now.replace(second=0, microsecond=0)
    start = end - timedelta(minutes=minutes - 1)
    by_minute = {a.minute: a for a in activity if start <= a.minute <= end}
    peak = max([1, *(max(a.placed, a.compensated) for a in by_minute.values())])
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / minutes
    bars: list[Bar] = []
    for index in range(minutes):
        minute = start + timedelta(minutes=index)
        counts = by_minute.get(minute)
        if counts is None:
            continue
        for offset, kind, value in ((0.1, "placed", counts.placed), (0.5, "compensated", counts.compensated)):
            if value <= 0:
                continue
            height = plot_height * value / peak
            bars.append(
                Bar(
                    x=round(LEFT + slot * (index + offset), 2),
                    y=round(TOP + plot_height - height, 2),
                    width=round(slot * 0.4, 2),
                    height=round(height, 2),
                    kind=kind,
                    label=f"{minute:%H:%M} UTC: {value} {kind}",
                )
            )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        peak=peak,
        start=start,
        end=end,
        plot_left=LEFT,
        plot_bottom=HEIGHT - BOTTOM,
        total_placed=sum(a.placed for a in by_minute.values()),
        total_compensated=sum(a.compensated for a in by_minute.values()),
    )
