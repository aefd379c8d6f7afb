"""The /stats chart: questions, answers, votes and answer time per day, as a PNG.

matplotlib is imported on first use, so commands that never draw a chart do not pay
for it; figures are built with the object API (no pyplot state), so charts may be
drawn in worker threads. The colours suit Discord's dark theme.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.stats import StatsReport

__all__ = ["MAX_BYTES", "render_chart"]

MAX_BYTES = 1_000_000  # well under Discord's upload limit; the chart is usually ~80 kB
WIDTH_IN, HEIGHT_IN, DPI = 10.0, 7.5, 100

BACKGROUND = "#313338"  # Discord's dark chat background
PANEL = "#2B2D31"
TEXT = "#DBDEE1"
MUTED = "#949BA4"
GRID = "#4E5058"
ANSWERED = "#5865F2"  # blurple
NOT_ANSWERED = "#F0B232"  # amber
UP = "#23A55A"
DOWN = "#F23F43"
P50 = "#00A8FC"
P95 = "#EB459E"


def render_chart(report: StatsReport) -> bytes:
    """The report's chart as PNG bytes (under MAX_BYTES)."""
    for dpi in (DPI, 80, 60):
        data = _draw(report, dpi)
        if len(data) <= MAX_BYTES:
            return data
    return data


def _draw(report: StatsReport, dpi: int) -> bytes:
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from bot.stats import period_label

    buckets = report.chart
    hourly = report.chart_width < 86400
    starts = [dt.datetime.fromtimestamp(b.start, dt.UTC).replace(tzinfo=None) for b in buckets]
    x = mdates.date2num(starts) if starts else []
    width = report.chart_width / 86400 * 0.8

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=dpi, facecolor=BACKGROUND)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]})
    t = report.totals
    fig.suptitle(
        f"corpusbot · {period_label(report.period)} (UTC)",
        color=TEXT,
        fontsize=15,
        fontweight="bold",
        x=0.01,
        ha="left",
    )
    share = f" ({t.answered / t.questions:.0%})" if t.questions else ""
    fig.text(
        0.01,
        0.925,
        f"{t.questions} questions · {t.answered} answered{share} · "
        f"{t.questions - t.answered} not in the articles · "
        f"votes: {t.votes_up} helpful, {t.votes_down} not helpful",
        color=MUTED,
        fontsize=10.5,
        ha="left",
    )

    questions, votes, latency = axes
    answered = [b.answered for b in buckets]
    missed = [b.questions - b.answered for b in buckets]
    questions.bar(x, answered, width, color=ANSWERED, label="answered")
    questions.bar(
        x, missed, width, bottom=answered, color=NOT_ANSWERED, label="not in the articles"
    )
    questions.set_ylabel("questions")
    questions.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    questions.set_ylim(bottom=0, top=max([b.questions for b in buckets] + [1]) * 1.15)

    votes.bar(x, [b.votes_up for b in buckets], width, color=UP, label="helpful")
    votes.bar(x, [-b.votes_down for b in buckets], width, color=DOWN, label="not helpful")
    votes.axhline(0, color=GRID, linewidth=1)
    votes.set_ylabel("votes")
    votes.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    votes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):g}"))
    top = max([b.votes_up for b in buckets] + [b.votes_down for b in buckets] + [1]) * 1.2
    votes.set_ylim(-top, top)

    points = [(xi, b) for xi, b in zip(x, buckets, strict=True) if b.latency_p50_ms is not None]
    if points:
        px = [p[0] for p in points]
        for values, color, label in (
            ([p[1].latency_p50_ms for p in points], P50, "p50 (median)"),
            ([p[1].latency_p95_ms for p in points], P95, "p95"),
        ):
            latency.plot(
                px, values, color=color, marker="o", markersize=4, linewidth=2, label=label
            )
        peak = max(p[1].latency_p95_ms or 0 for p in points)
        latency.set_ylim(0, max(peak * 1.2, 1))
    else:
        latency.set_ylim(0, 1)
    latency.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    latency.set_ylabel("answer time (ms)")
    latency.set_xlabel("hour (UTC)" if hourly else "day (UTC)")

    if len(x):
        pad = report.chart_width / 86400 * 0.6
        latency.set_xlim(x[0] - pad, x[-1] + pad)
    if hourly:
        latency.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 3)))
        latency.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    elif len(buckets) <= 16:
        latency.xaxis.set_major_locator(mdates.DayLocator())
        latency.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    else:
        locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
        latency.xaxis.set_major_locator(locator)
        latency.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))

    for ax in axes:
        ax.set_facecolor(PANEL)
        ax.tick_params(colors=TEXT, labelsize=9.5)
        ax.yaxis.label.set_color(TEXT)
        ax.xaxis.label.set_color(TEXT)
        ax.yaxis.label.set_fontsize(10.5)
        ax.grid(axis="y", color=GRID, linewidth=0.6, alpha=0.8)
        ax.set_axisbelow(True)
        for side, spine in ax.spines.items():
            spine.set_visible(side in ("left", "bottom"))
            spine.set_color(GRID)
        if ax.get_legend_handles_labels()[0]:
            # above the panel, so it never hides a bar
            legend = ax.legend(
                loc="lower right",
                bbox_to_anchor=(1.0, 1.0),
                fontsize=9.5,
                frameon=False,
                ncols=2,
                borderaxespad=0.2,
            )
            for text in legend.get_texts():
                text.set_color(TEXT)
    if not t.questions:
        questions.text(
            0.5,
            0.5,
            "No questions in this period",
            transform=questions.transAxes,
            ha="center",
            va="center",
            color=MUTED,
            fontsize=13,
        )

    fig.subplots_adjust(left=0.08, right=0.98, top=0.89, bottom=0.08, hspace=0.28)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor=BACKGROUND)
    return buffer.getvalue()
