"""Account views built on the churn engine: risk board, Customer 360, lifetime value."""
