"""Render :class:`~dnsscience.dashboard.data.DashboardData` as one HTML page.

The page is self-contained: inline CSS and an inline SVG chart, no script and
nothing fetched from elsewhere, so it works on an isolated host and in a
headless browser. Every value from the database is HTML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from html import escape

from dnsscience.dashboard.data import DashboardData, RateSeries
from dnsscience.health import format_duration

__all__ = ["render_page", "render_rate_chart"]

#: Seconds between automatic reloads of the page.
REFRESH_SECONDS = 60

SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
header { display: flex; align-items: baseline; gap: 1.5em; }
h1 { margin: 0; font-size: 1.6em; }
h2 { font-size: 1.1em; margin: 0 0 .6em; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 1em;
          margin: 1em 0; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.grid section { margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #eee; }
th { font-weight: 600; background: #f3f3f3; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 600; border-radius: 4px; padding: 0 .4em; }
.status-ok, .status-stopped, .status-replaced { background: #e3f4e3; color: #1a6b1a; }
.status-stale, .status-stalled, .status-missing { background: #fde2e1; color: #a31712; }
.overall-healthy { color: #1a6b1a; font-weight: 600; }
.overall-unhealthy { color: #a31712; font-weight: 600; }
.bar-row { display: grid; grid-template-columns: 9em 1fr 10em; gap: .6em;
           align-items: center; margin: .2em 0; }
.bar { background: #eee; height: 1em; border-radius: 3px; overflow: hidden; }
.bar span { display: block; height: 100%; background: #1f77b4; }
.bar.expiry-danger span { background: #d62728; }
.bar.expiry-warning span { background: #ff9f1c; }
.severity-critical, .severity-high { color: #a31712; font-weight: 600; }
.severity-medium { color: #b36b00; }
.muted { color: #777; }
ul.notes { margin: 0; padding-left: 1.2em; color: #555; }
svg text { font: 11px system-ui, sans-serif; fill: #555; }
"""


def _time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _nice_step(value: float) -> float:
    """Round ``value`` up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def render_rate_chart(series: Sequence[RateSeries], width: int = 900, height: int = 260) -> str:
    """Return an inline SVG line chart of ``series`` (items per bucket over time)."""
    left, right, top, bottom = 56, 16, 14, 44
    plot_width = width - left - right
    plot_height = height - top - bottom
    points = [point for line in series for point in line.points]
    if not points:
        return '<p class="muted">No result table to chart yet.</p>'

    start = min(moment for moment, _ in points).timestamp()
    end = max(moment for moment, _ in points).timestamp()
    span = max(end - start, 1.0)
    # Four gridline steps of a round size, so the labels are round numbers.
    y_step = _nice_step(max(count for _, count in points) / 4)
    y_max = 4 * y_step

    def x_of(seconds: float) -> float:
        return left + plot_width * (seconds - start) / span

    def y_of(count: float) -> float:
        return top + plot_height * (1 - count / y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" style="max-width: {width}px" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Collection rate chart">'
    ]
    for step in range(5):
        value = y_step * step
        y = y_of(value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e5e5e5"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')

    tick_seconds = 3600 * max(1, math.ceil(span / 3600 / 8))
    tick = math.ceil(start / tick_seconds) * tick_seconds
    while tick <= end:
        x = x_of(tick)
        label = datetime.fromtimestamp(tick, tz=points[0][0].tzinfo).strftime("%H:%M")
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_height}" '
            'stroke="#f0f0f0"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_height + 16}" text-anchor="middle">{label}</text>'
        )
        tick += tick_seconds
    parts.append(
        f'<line x1="{left}" y1="{top + plot_height}" x2="{width - right}" '
        f'y2="{top + plot_height}" stroke="#999"/>'
    )

    legend_x = left
    for index, line in enumerate(series):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        coordinates = " ".join(
            f"{x_of(moment.timestamp()):.1f},{y_of(count):.1f}" for moment, count in line.points
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coordinates}">'
            f"<title>{escape(line.label)}: {line.total} in total</title></polyline>"
        )
        legend_y = height - 8
        parts.append(
            f'<rect x="{legend_x}" y="{legend_y - 9}" width="12" height="10" fill="{colour}"/>'
        )
        text = f"{line.label} per {format_duration(line.bucket_seconds)} ({line.total} in total)"
        parts.append(f'<text x="{legend_x + 16}" y="{legend_y}">{escape(text)}</text>')
        legend_x += 24 + 7 * len(text)
    parts.append("</svg>")
    return "".join(parts)


def _bar_rows(items: Sequence[tuple[str, int]], total: int, classes: Sequence[str] = ()) -> str:
    rows = []
    for index, (label, count) in enumerate(items):
        share = _percent(count, total)
        extra = f" {classes[index]}" if index < len(classes) and classes[index] else ""
        rows.append(
            f'<div class="bar-row"><span>{escape(label)}</span>'
            f'<div class="bar{extra}"><span style="width: {share:.1f}%"></span></div>'
            f'<span class="number">{count:,} ({share:.1f}%)</span></div>'
        )
    return "".join(rows)


def _instances_section(data: DashboardData) -> str:
    report = data.health
    if report is None:
        return '<section><h2>Instances</h2><p class="muted">Not available.</p></section>'
    rows = []
    for instance in report.instances:
        beat = instance.heartbeat
        rate = "-" if beat.rate_per_second is None else f"{beat.rate_per_second:.1f}"
        errors = ", ".join(f"{kind} {count}" for kind, count in sorted(beat.errors.items()))
        rows.append(
            "<tr>"
            f"<td>{escape(beat.daemon)}</td><td>{escape(beat.host)}</td>"
            f'<td class="number">{beat.pid}</td><td>{escape(beat.version)}</td>'
            f"<td>{escape(beat.state)}</td>"
            f'<td><span class="status status-{escape(instance.status)}">'
            f"{escape(instance.status)}</span></td>"
            f"<td>{format_duration(instance.beat_age_seconds)} ago</td>"
            f'<td class="number">{rate}</td><td class="number">{beat.items_total:,}</td>'
            f"<td>{escape(errors) or '-'}</td><td>{escape(instance.detail)}</td>"
            "</tr>"
        )
    for name in report.missing:
        rows.append(
            f"<tr><td>{escape(name)}</td><td colspan=4></td>"
            '<td><span class="status status-missing">missing</span></td>'
            "<td colspan=5>no live instance</td></tr>"
        )
    if not rows:
        body = f'<p class="muted">No instance has beaten in the last {data.hours} hours.</p>'
    else:
        body = (
            "<table><tr><th>Daemon</th><th>Host</th><th>PID</th><th>Version</th>"
            "<th>State</th><th>Status</th><th>Last beat</th><th>Items/s</th>"
            "<th>Items</th><th>Errors</th><th>Detail</th></tr>" + "".join(rows) + "</table>"
        )
    return f"<section><h2>Instances</h2>{body}</section>"


def _coverage_section(data: DashboardData) -> str:
    if not data.coverage:
        body = '<p class="muted">No email security records.</p>'
    else:
        body = (
            f'<p class="muted">{data.email_total:,} domains with an email security record</p>'
            + _bar_rows(data.coverage, data.email_total)
        )
    return f"<section><h2>Email security coverage</h2>{body}</section>"


def _expiry_section(data: DashboardData) -> str:
    total = sum(count for _, count in data.expiry)
    if not data.expiry:
        body = '<p class="muted">No certificate table.</p>'
    else:
        classes = ["expiry-danger", "expiry-danger", "expiry-warning"]
        body = f'<p class="muted">{total:,} certificates</p>' + _bar_rows(
            data.expiry, total, classes
        )
    return f"<section><h2>Certificate expiry</h2>{body}</section>"


def _alerts_section(data: DashboardData) -> str:
    if not data.alerts:
        body = '<p class="muted">No open alert.</p>'
    else:
        rows = "".join(
            "<tr>"
            f'<td class="severity-{escape(alert.severity)}">{escape(alert.severity)}</td>'
            f"<td>{escape(alert.domain_name)}:{alert.port}</td><td>{escape(alert.kind)}</td>"
            f"<td>{escape(alert.message)}</td><td>{_time(alert.raised_at)}</td>"
            "</tr>"
            for alert in data.alerts
        )
        shown = ""
        if data.open_alerts_total > len(data.alerts):
            shown = (
                f'<p class="muted">Showing {len(data.alerts)} of {data.open_alerts_total:,}.</p>'
            )
        body = (
            "<table><tr><th>Severity</th><th>Certificate</th><th>Kind</th><th>Message</th>"
            f"<th>Raised</th></tr>{rows}</table>{shown}"
        )
    title = f"Open alerts ({data.open_alerts_total:,})"
    return f"<section><h2>{title}</h2>{body}</section>"


def render_page(data: DashboardData) -> str:
    """Return the whole dashboard page as an HTML document."""
    healthy = data.health is not None and data.health.healthy
    overall = (
        '<span class="overall-healthy">all instances healthy</span>'
        if healthy
        else '<span class="overall-unhealthy">unhealthy</span>'
    )
    notes = ""
    if data.notes:
        notes = (
            '<section><h2>Notes</h2><ul class="notes">'
            + "".join(f"<li>{escape(note)}</li>" for note in data.notes)
            + "</ul></section>"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        "<title>dnsscience dashboard</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<header><h1>dnsscience</h1><span>{overall}</span>"
        f'<span class="muted">as of {_time(data.generated_at)}</span></header>'
        + _instances_section(data)
        + f"<section><h2>Collection rate, last {data.hours} hours</h2>"
        + render_rate_chart(data.rates)
        + "</section>"
        + '<div class="grid">'
        + _coverage_section(data)
        + _expiry_section(data)
        + "</div>"
        + _alerts_section(data)
        + notes
        + "</body></html>\n"
    )
