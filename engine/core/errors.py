"""Exceptions with messages a person can act on.

Pages show `str(exc)` with `st.error`; the CLI prints it and exits 2.
"""


class RadarError(Exception):
    """Base class for expected, user-facing errors."""


class BadInputError(RadarError):
    """Input (a file, an argument, a question) cannot be used as given."""


class WarehouseLockedError(RadarError):
    """Another process holds the warehouse write lock."""


class WarehouseError(RadarError):
    """The warehouse could not run a statement (wraps duckdb.Error)."""


class NotFoundError(RadarError):
    """A customer, model version or saved item does not exist."""


class ModelUnavailableError(RadarError):
    """No usable production model (none trained, or its artifact failed checks)."""
