"""budgetgym.planner — what to spend, where, when, and what if (see :func:`plan`)."""
