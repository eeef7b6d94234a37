"""Plotly figure builders for the dashboard: DataFrames from :mod:`dashboard.queries` in, figures out.

No figure needs map tiles or any other network resource: the network view is a plain scatter
of latitude against longitude with the axes scaled so that a kilometre east is as long as a
kilometre north.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import cast

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "SEVERITY_COLORS",
    "headway_figure",
    "histogram_figure",
    "hourly_figure",
    "line_colors",
    "load_timeline",
    "network_map",
    "power_timeline",
    "severity_style",
    "speed_box_figure",
    "station_crowding_figure",
]

#: Background colours of the alert feed's severity cells.
SEVERITY_COLORS = {"critical": "#f8b4b4", "warning": "#fde68a", "info": "#bfdbfe"}
_PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_LOAD_SCALE = [[0.0, "#1a9850"], [0.5, "#fee08b"], [0.8, "#fc8d59"], [1.0, "#d73027"]]
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def line_colors(line_ids: Iterable[str]) -> dict[str, str]:
    """A colour per line: the shipped network's colour for its own line ids, else a palette."""
    known: dict[str, str] = {}
    try:
        from ats_sim.scenario import load_network

        known = {ln.id: ln.color for ln in load_network("reference").lines}
    except Exception:  # cosmetic only: fall back to the palette
        known = {}
    out: dict[str, str] = {}
    for i, line in enumerate(sorted(set(line_ids))):
        out[line] = known.get(line, _PALETTE[i % len(_PALETTE)])
    return out


def _base(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.0, "font": {"size": 15}},
        height=height,
        margin=_MARGIN,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.18, "x": 0.0},
    )
    return fig


def _empty(title: str, note: str, height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base(fig, title, height)


def network_map(
    stations: pd.DataFrame, trains: pd.DataFrame, *, load_threshold: float = 1.0
) -> go.Figure:
    """Every line's track and stations, and each train's latest position coloured by load factor."""
    title = "Network: trains coloured by load factor"
    if stations.empty and trains.empty:
        return _empty(title, "no positions yet", 480)
    colors = line_colors(list(stations.get("LINE_ID", [])) + list(trains.get("LINE_ID", [])))
    fig = go.Figure()
    for line, st in stations.groupby("LINE_ID", sort=True):
        st = st.sort_values("CHAINAGE_M")
        fig.add_trace(
            go.Scatter(
                x=st["LONGITUDE"],
                y=st["LATITUDE"],
                mode="lines+markers",
                name=f"Line {line}",
                line={"color": colors[cast(str, line)], "width": 5},
                opacity=0.55,
                marker={
                    "size": 9,
                    "color": "white",
                    "line": {"color": colors[cast(str, line)], "width": 2},
                },
                text=st["STATION_ID"],
                hovertemplate="%{text}<extra>Line " + str(line) + "</extra>",
            )
        )
    if not trains.empty:
        cmax = max(1.2, load_threshold * 1.1, float(trains["LOAD_FACTOR"].max()))
        hover = (
            trains["TRAIN_ID"]
            + " ("
            + trains["STATUS"]
            + ")<br>next "
            + trains["NEXT_STATION"].astype(str)
            + "<br>"
            + trains["PASSENGER_COUNT"].astype(str)
            + " on board, load "
            + trains["LOAD_FACTOR"].map("{:.2f}".format)
            + "<br>"
            + trains["SPEED_KMH"].map("{:.0f}".format)
            + " km/h, "
            + trains["POWER_DRAW_KW"].map("{:.0f}".format)
            + " kW"
        )
        fig.add_trace(
            go.Scatter(
                x=trains["LONGITUDE"],
                y=trains["LATITUDE"],
                mode="markers",
                name="Trains",
                text=hover,
                hovertemplate="%{text}<extra></extra>",
                marker={
                    "size": 14,
                    "color": trains["LOAD_FACTOR"],
                    "cmin": 0.0,
                    "cmax": cmax,
                    "colorscale": _LOAD_SCALE,
                    "line": {"color": "#222", "width": 1},
                    "symbol": [
                        "triangle-right" if d == 0 else "triangle-left" for d in trains["DIRECTION"]
                    ],
                    "colorbar": {"title": {"text": "load"}, "thickness": 12, "len": 0.8},
                },
            )
        )
    lats = pd.concat(
        [
            stations.get("LATITUDE", pd.Series(dtype=float)),
            trains.get("LATITUDE", pd.Series(dtype=float)),
        ]
    )
    lat0 = float(lats.mean()) if len(lats) else 0.0
    fig.update_yaxes(
        scaleanchor="x",
        scaleratio=1.0 / max(math.cos(math.radians(lat0)), 0.1),
        title="latitude",
        showgrid=False,
        zeroline=False,
    )
    fig.update_xaxes(title="longitude", showgrid=False, zeroline=False)
    fig = _base(fig, title, 480)
    fig.update_layout(plot_bgcolor="#fafafa")
    return fig


def _peak_and_mean(
    df: pd.DataFrame,
    title: str,
    columns: tuple[str, str],
    threshold: float,
    threshold_text: str,
    text_position: str,
) -> go.Figure:
    """Peak (solid) and mean (dotted) of one measure per series over time, with a threshold line."""
    if df.empty:
        return _empty(title, "no telemetry in the window")
    colors = _series_colors(df)
    fig = go.Figure()
    for s, d in df.groupby("SERIES", sort=True):
        for column, kind, dash in ((columns[0], "peak", None), (columns[1], "mean", "dot")):
            line = {"color": colors[cast(str, s)]} | ({"dash": dash} if dash else {})
            fig.add_trace(
                go.Scatter(x=d["T"], y=d[column], name=f"{s} {kind}", line=line, legendgroup=str(s))
            )
    fig.add_hline(
        y=threshold,
        line={"color": "#b91c1c", "dash": "dash"},
        annotation_text=threshold_text,
        annotation_position=text_position,
    )
    return fig


def load_timeline(df: pd.DataFrame, threshold: float) -> go.Figure:
    """Peak (solid) and mean (dotted) load factor per series over time, with the alert threshold."""
    title = "Passenger load (load factor: peak and mean)"
    fig = _peak_and_mean(
        df,
        title,
        ("MAX_LOAD_FACTOR", "AVG_LOAD_FACTOR"),
        threshold,
        f"overcrowding alert {threshold:g}",
        "top left",
    )
    if df.empty:
        return fig
    fig.update_yaxes(title="load factor", rangemode="tozero")
    return _base(fig, title)


def power_timeline(df: pd.DataFrame, threshold_kw: float) -> go.Figure:
    """Peak (solid) and mean (dotted) train power draw per series, with the high-power threshold."""
    title = "Power draw per train (kW: peak and mean)"
    fig = _peak_and_mean(
        df,
        title,
        ("MAX_POWER_KW", "AVG_POWER_KW"),
        threshold_kw,
        f"high-power alert {threshold_kw:,.0f} kW",
        "bottom left",
    )
    if df.empty:
        return fig
    fig.update_yaxes(title="kW")
    return _base(fig, title)


def histogram_figure(df: pd.DataFrame, width: float, x_title: str, title: str) -> go.Figure:
    """Pre-binned counts (SERIES, BIN, N) as overlaid bars."""
    if df.empty:
        return _empty(title, "no telemetry in the window")
    colors = _series_colors(df)
    fig = go.Figure()
    for s, d in df.groupby("SERIES", sort=True):
        fig.add_trace(
            go.Bar(
                x=d["BIN"] + width / 2,
                y=d["N"],
                width=width,
                name=str(s),
                marker={"color": colors[cast(str, s)]},
                opacity=0.6,
            )
        )
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title="records")
    return _base(fig, title)


def speed_box_figure(df: pd.DataFrame) -> go.Figure:
    """One box per train from its speed quartiles while running (whiskers: min and max)."""
    title = "Speed while running, per train (km/h)"
    if df.empty:
        return _empty(title, "no running trains in the window")
    colors = line_colors(df["LINE_ID"])
    fig = go.Figure()
    for line, d in df.groupby("LINE_ID", sort=True):
        fig.add_trace(
            go.Box(
                x=d["TRAIN_ID"],
                q1=d["Q1"],
                median=d["MEDIAN"],
                q3=d["Q3"],
                lowerfence=d["MIN"],
                upperfence=d["MAX"],
                mean=d["MEAN"],
                name=f"Line {line}",
                marker={"color": colors[cast(str, line)]},
            )
        )
    fig.update_yaxes(title="km/h", rangemode="tozero")
    return _base(fig, title)


def station_crowding_figure(df: pd.DataFrame) -> go.Figure:
    """Waiting passengers (mean at departures, and the maximum) and passengers left behind."""
    title = "Station crowding: waiting passengers and passengers left behind"
    if df.empty:
        return _empty(title, "no departures in the window")
    colors = line_colors(df["LINE_ID"])
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.6, 0.4]
    )
    label = df["STATION_ID"] + " " + df["STATION_NAME"]
    bar_colors = [colors[x] for x in df["LINE_ID"]]
    fig.add_trace(
        go.Bar(x=label, y=df["AVG_WAITING"], name="mean waiting", marker={"color": bar_colors}),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=label,
            y=df["MAX_WAITING"],
            name="max waiting",
            mode="markers",
            marker={"color": "#111", "symbol": "line-ew-open", "size": 14},
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(x=label, y=df["LEFT_BEHIND"], name="left behind", marker={"color": "#b91c1c"}),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="waiting", row=1, col=1)
    fig.update_yaxes(title_text="left behind", row=2, col=1)
    return _base(fig, title, 460)


def headway_figure(
    points: pd.DataFrame, summary: pd.DataFrame, bunching_ratio: float = 0.5
) -> go.Figure:
    """Headway over scheduled headway per departure, and bunched departures per station."""
    title = "Headways: actual / scheduled per departure, and bunching per station"
    if points.empty:
        return _empty(title, "no departures with a headway in the window")
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.08)
    colors = line_colors(points["LINE_ID"])
    for line, d in points.groupby("LINE_ID", sort=True):
        fig.add_trace(
            go.Scattergl(
                x=d["DEPARTED_AT"],
                y=d["HEADWAY_RATIO"],
                mode="markers",
                name=f"Line {line}",
                marker={
                    "color": [
                        ("#b91c1c" if b else colors[cast(str, line)]) for b in d["IS_BUNCHED"]
                    ],
                    "size": 5,
                },
                text=d["TRAIN_ID"] + " at " + d["STATION_NAME"],
                hovertemplate="%{text}: %{y:.2f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    fig.add_hline(
        y=bunching_ratio,
        line={"color": "#b91c1c", "dash": "dash"},
        row=1,
        col=1,
        annotation_text="bunching",
        annotation_position="bottom left",
    )
    fig.add_hline(y=1.0, line={"color": "#666", "dash": "dot"}, row=1, col=1)
    if not summary.empty:
        per_station = summary.groupby(["LINE_ID", "STATION_ID"], as_index=False)["BUNCHED"].sum()
        fig.add_trace(
            go.Bar(
                x=per_station["STATION_ID"],
                y=per_station["BUNCHED"],
                name="bunched departures",
                marker={"color": [colors.get(x, "#888") for x in per_station["LINE_ID"]]},
            ),
            row=1,
            col=2,
        )
    fig.update_yaxes(title_text="headway / scheduled", row=1, col=1)
    fig.update_yaxes(title_text="bunched departures", row=1, col=2)
    return _base(fig, title, 360)


def hourly_figure(stats: pd.DataFrame, energy: pd.DataFrame) -> go.Figure:
    """Net and regenerated energy per hour (bars) and mean passengers on board (lines)."""
    title = "Hourly: energy (net and regenerated, kWh) and mean passengers per train"
    if stats.empty and energy.empty:
        return _empty(title, "no complete data in the window")
    colors = line_colors(list(stats.get("LINE_ID", [])) + list(energy.get("LINE_ID", [])))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for line, d in energy.groupby("LINE_ID", sort=True):
        fig.add_trace(
            go.Bar(
                x=d["HOUR"],
                y=d["ENERGY_KWH"],
                name=f"{line} net kWh",
                marker={"color": colors[cast(str, line)]},
            ),
            secondary_y=False,
        )
        fig.add_trace(
            go.Bar(
                x=d["HOUR"],
                y=d["REGEN_KWH"],
                name=f"{line} regen kWh",
                marker={"color": colors[cast(str, line)], "pattern": {"shape": "/"}},
                opacity=0.5,
            ),
            secondary_y=False,
        )
    for line, d in stats.groupby("LINE_ID", sort=True):
        fig.add_trace(
            go.Scatter(
                x=d["HOUR"],
                y=d["AVG_PASSENGERS"],
                name=f"{line} passengers",
                mode="lines+markers",
                line={"color": colors[cast(str, line)]},
            ),
            secondary_y=True,
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="kWh", secondary_y=False)
    fig.update_yaxes(title_text="mean passengers per train", secondary_y=True, rangemode="tozero")
    return _base(fig, title, 360)


def severity_style(df: pd.DataFrame) -> pd.io.formats.style.Styler:
    """The alert feed with its SEVERITY cells coloured (critical red, warning amber, info blue)."""

    def color(value: object) -> str:
        c = SEVERITY_COLORS.get(str(value))
        return f"background-color: {c}" if c else ""

    return df.style.map(color, subset=["SEVERITY"]) if "SEVERITY" in df else df.style


def _series_colors(df: pd.DataFrame) -> dict[str, str]:
    """Line colours when the series are lines, a long qualitative palette when they are trains."""
    series = sorted({str(s) for s in df["SERIES"]})
    if (df["SERIES"] == df["LINE_ID"]).all():
        return line_colors(series)
    palette = px.colors.qualitative.Dark24
    return {s: palette[i % len(palette)] for i, s in enumerate(series)}
