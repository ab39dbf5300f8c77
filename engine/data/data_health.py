"""Moved to engine.data.health (one module for data health); this name stays until its
callers (components/ops.py, tests/test_monitoring.py, bench/monitoring.py) import health."""

from engine.data.health import (
    DAILY_TABLES,
    DATE_COLUMNS,
    STALE_AFTER_DAYS,
    DataHealth,
    data_health,
    null_rates,
)

__all__ = ["DAILY_TABLES", "DATE_COLUMNS", "STALE_AFTER_DAYS", "DataHealth", "data_health", "null_rates"]
