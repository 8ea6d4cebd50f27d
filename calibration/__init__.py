"""budgetgym.calibration — scenario families fitted to a campaign's own data."""
