"""What every page shares: login and guard, navigation, formatting, KPI cards, status, caches, escaping, chart theme."""
