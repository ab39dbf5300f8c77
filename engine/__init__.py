"""Customer Radar engine: data, models and AI for customer-success teams.

The engine never imports Streamlit; pages call it in-process.
"""

__version__ = "0.1.0"
