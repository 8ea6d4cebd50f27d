"""budgetgym.calibration — fit a marketing-mix model to a planner's own data, as a scenario family.

:func:`calibrate` reads a CSV of periods (date, KPI, spend per channel, optional exposure and
controls), fits carry-over and saturation per channel with a baseline by maximum likelihood,
optionally with lift tests as extra likelihood terms (:mod:`budgetgym.calibration.lift`),
bootstraps the uncertainty, and writes a scenario family (the point estimate and its draws)
that ``budgetgym plan`` and the agents use like any other. The ``budgetgym calibrate`` command
is a thin layer over it.
"""

from budgetgym.calibration.calibrate import CalibrationResult, Holdout, calibrate
from budgetgym.calibration.data import MMMData, read_mmm_csv
from budgetgym.calibration.lift import LiftTests, read_lift_tests
from budgetgym.calibration.model import Fit, ModelSpec, fit_model
from budgetgym.calibration.uncertainty import Draws, block_bootstrap

__all__ = [
    "CalibrationResult",
    "Draws",
    "Fit",
    "Holdout",
    "LiftTests",
    "MMMData",
    "ModelSpec",
    "block_bootstrap",
    "calibrate",
    "fit_model",
    "read_lift_tests",
    "read_mmm_csv",
]
