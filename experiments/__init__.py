"""budgetgym.experiments — running and reporting experiments."""
