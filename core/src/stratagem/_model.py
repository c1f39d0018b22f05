"""The one base of every config model: frozen, unknown keys rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A pydantic model with ``extra="forbid"`` and ``frozen=True``."""

    # defer_build: a model's validator is built when first used, so a run builds only
    # the models its config needs (building all at import cost ~50 ms of start-up)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
