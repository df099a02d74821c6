"""Request rate limits: moving-window budgets in memory or Redis."""
