"""The ats-sim dashboard: Streamlit + Plotly over the shared warehouse schema.

* :mod:`dashboard.connection` turns a warehouse URL (``duckdb://data/ats.duckdb`` or
  ``snowflake://``) into a :class:`~dashboard.connection.Warehouse` that opens short read-only
  sessions;
* :mod:`dashboard.queries` holds every query, as plain functions of a connection that return
  DataFrames (the notebooks use these) plus a thin Streamlit-cached layer;
* :mod:`dashboard.charts` builds the Plotly figures;
* ``dashboard/app.py`` is the Streamlit page: widgets -> query -> chart.

Importing this package connects to nothing and does not import Streamlit.
"""

from __future__ import annotations

__all__: list[str] = []
