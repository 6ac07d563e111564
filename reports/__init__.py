"""Presentation of the Push Validation Report: Plotly figures and the CSV/XLSX/PDF writers.

``data/reports.py`` ends at values and DataFrames; this package turns them into pictures
and files, for the web page (``dashboard/``) and the weekly job (``jobs/``) alike.
"""
