"""The warehouse and what goes into it: DuckDB, health checks, ingest, the demo generator."""
