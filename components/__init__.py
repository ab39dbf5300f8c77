"""Reusable Streamlit pieces: caching wrappers around engine calls, KPI cards, charts, formatting.

Pages import from here and from `engine`; nothing in this package holds SQL or models.
"""
