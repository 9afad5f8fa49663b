"""Conditions: what a condition of the flow language means for a lead at a moment T.

- ``reference``: the reference interpreter (one lead, plain Python; the oracle and ``explain``).
- ``compile``: conditions compiled to SQLAlchemy Core per dialect (audiences in the database);
  ``plan`` chooses the SQL shape of each event test from the data.
- ``explain``: a per-lead explanation tree (every sub-condition, value and score line).

docs/semantics.md is the contract both evaluators follow.
"""

from __future__ import annotations

from engine.conditions.model import ConditionError, Context, Event

__all__ = ["ConditionError", "Context", "Event"]
