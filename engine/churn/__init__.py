"""The churn engine: features, model, training, scoring, drivers, risk, registry, monitoring."""
