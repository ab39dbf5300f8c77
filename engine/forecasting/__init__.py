"""Time-series forecasts of the warehouse's business series, with backtests."""
