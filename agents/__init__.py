"""budgetgym.agents — allocation policies (see the agents issue)."""
