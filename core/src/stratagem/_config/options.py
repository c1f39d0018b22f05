"""The fields of a plugin's config model as ``stratagem plugins --options`` shows
them: name, type (with its bounds), default and description, one row per field."""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

if TYPE_CHECKING:
    from stratagem._plugins.loader import PluginCatalogue, PluginRecord

REQUIRED = "required"

#: a bound in a field's metadata (``Field(ge=1)``) -> how the type column shows it
_BOUNDS: tuple[tuple[str, str], ...] = (
    ("gt", "> {}"),
    ("ge", ">= {}"),
    ("lt", "< {}"),
    ("le", "<= {}"),
    ("min_length", "len >= {}"),
    ("max_length", "len <= {}"),
)


@dataclass(frozen=True)
class ConfigOption:
    """One field of a config model.

    :param name: the key a config file uses.
    :param type: the field's type, with its bounds (``int >= 1``).
    :param default: the default as JSON, or ``required``.
    :param description: the field's description, on one line.
    """

    name: str
    type: str
    default: str
    description: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form (``stratagem plugins --json --options``)."""
        return asdict(self)


def config_model(spec: object) -> type[BaseModel] | None:
    """The pydantic model of an offered spec's config (``spec.config``), if it has one.

    :param spec: a strategy, scanner, data source or broker spec.
    """
    model = getattr(spec, "config", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model
    return None


def config_options(model: type[BaseModel]) -> list[ConfigOption]:
    """Every field of ``model``, in declaration order.

    :param model: a pydantic model class (a :class:`stratagem.StrategyConfig` …).
    """
    return [
        ConfigOption(
            name=field.alias or name,
            type=_with_bounds(type_label(field.annotation), field),
            default=_default(field),
            description=" ".join((field.description or "-").split()),
        )
        for name, field in model.model_fields.items()
    ]


def type_label(annotation: Any) -> str:
    """A short, readable form of a field's type: ``list[str]``, ``int | None``,
    ``"skip" | "fill"`` for a Literal or an Enum.

    :param annotation: the field's annotation, as pydantic resolved it.
    """
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_label(args[0])
    if origin is typing.Literal:
        return " | ".join(json.dumps(to_jsonable_python(arg)) for arg in args)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_label(arg) for arg in args)
    if origin is not None:
        inner = ", ".join("..." if arg is Ellipsis else type_label(arg) for arg in args)
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{inner}]" if args else name
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(json.dumps(member.value) for member in annotation)
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _with_bounds(label: str, field: FieldInfo) -> str:
    bounds = [
        fmt.format(getattr(item, attribute))
        for item in field.metadata
        for attribute, fmt in _BOUNDS
        if getattr(item, attribute, None) is not None
    ]
    return f"{label} {', '.join(bounds)}" if bounds else label


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return REQUIRED
    value = field.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return REQUIRED
    return json.dumps(to_jsonable_python(value), ensure_ascii=False)


@dataclass(frozen=True)
class OfferOptions:
    """The config fields of one offered strategy, scanner, data source, broker or
    reporter.

    :param kind: ``strategy``, ``scanner``, ``data_source``, ``broker`` or
        ``reporter``.
    :param name: the offered name.
    :param plugin: the record of the plugin offering it.
    :param options: one row per field of its config model.
    """

    kind: str
    name: str
    plugin: PluginRecord
    options: list[ConfigOption]

    @property
    def label(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.name} ({self.plugin.origin})"


#: offer kind -> the PluginRecord field listing that kind's names
OFFER_FIELDS: dict[str, str] = {
    "strategy": "strategies",
    "scanner": "scanners",
    "data_source": "data_sources",
    "broker": "brokers",
    "reporter": "reporters",
}


def offered_options(
    catalogue: PluginCatalogue, records: Sequence[PluginRecord]
) -> list[OfferOptions]:
    """The config fields of everything ``records`` offer that has a config model.

    Names that do not resolve (a plugin that failed, a name offered twice) are left
    out: ``stratagem plugins`` lists those with their error.

    :param catalogue: the loaded plugins.
    :param records: the plugins to describe, in order.
    """
    found = []
    for record in records:
        if record.status != "OK":
            continue
        for kind, field in OFFER_FIELDS.items():
            for name in getattr(record, field):
                model = config_model(getattr(catalogue, kind)(name))
                if model is not None:
                    found.append(
                        OfferOptions(kind, name, record, config_options(model))
                    )
    return found
