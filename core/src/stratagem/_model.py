"""The one base of every config model: frozen, unknown keys rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A pydantic model with ``extra="forbid"`` and ``frozen=True``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
