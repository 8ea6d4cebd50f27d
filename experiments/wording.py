"""Words for the tables and messages: a count with its noun in the right number.

The one definition is :func:`budgetgym.envs.errors.count`, beside the other message helpers, so that
``envs/`` and ``agents/`` (which import nothing from ``experiments/``) count with it too; it is
re-exported here for the modules and notebooks that import it from this module.
"""

from __future__ import annotations

from budgetgym.envs.errors import count

__all__ = ["count"]
