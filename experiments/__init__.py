"""budgetgym.experiments — running agent x scenario x seed grids, statistics and reports.

Every command of the ``budgetgym`` CLI is a library function first::

    from budgetgym.experiments import load_experiment, run_experiment, build_report

    cfg = load_experiment("quickstart")
    result = run_experiment(cfg, "results/quickstart", workers=2)
    build_report("results/quickstart")
"""

from budgetgym.experiments.config import (
    AgentSpec,
    ExperimentConfig,
    ScenarioSpec,
    list_experiments,
    load_experiment,
)
from budgetgym.experiments.regress import Baseline, RegressionReport, compare, load_baseline, record_baseline
from budgetgym.experiments.report import Report, build_report
from budgetgym.experiments.runner import ExperimentResult, plan_experiment, run_experiment

__all__ = [
    "AgentSpec",
    "Baseline",
    "RegressionReport",
    "compare",
    "load_baseline",
    "record_baseline",
    "ExperimentConfig",
    "ExperimentResult",
    "Report",
    "ScenarioSpec",
    "build_report",
    "list_experiments",
    "load_experiment",
    "plan_experiment",
    "run_experiment",
]
