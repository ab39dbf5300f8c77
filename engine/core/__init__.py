"""Shared ground: configuration, errors, access rules, app-state store, formatting, exports."""
