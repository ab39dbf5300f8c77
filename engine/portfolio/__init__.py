"""Book-level figures: KPIs and the churn-adjusted MRR outlook."""
