"""``python -m budgetgym.experiments`` — the ``budgetgym`` command line."""

from budgetgym.experiments.cli import main

raise SystemExit(main())
