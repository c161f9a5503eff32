"""The README's config reference table, generated from the models' fields and descriptions."""

from __future__ import annotations

import math
import typing
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum

from pydantic import (
    BaseModel,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from monitoring_pipeline.config.loader import _is_model, _tag, _unwrap
from monitoring_pipeline.config.models import (
    Column,
    EmailSink,
    ModelConfig,
    MonitorsConfig,
    WebhookSink,
)

# ---- the README's table ------------------------------------------------------------------------------


def reference_rows(
    model: type[BaseModel] = MonitorsConfig, prefix: str = ""
) -> Iterator[tuple[str, str, str]]:
    """(field, required, meaning with its default) for every field of the file, nested models expanded."""
    for name, info in model.model_fields.items():
        if info.exclude or (name == "name" and model is not ModelConfig):
            continue  # the file's path; a column's or a sink's name is its key
        key = f"{prefix}{info.alias or name}"
        inner = _unwrap(info.annotation, None)
        if name == "sinks":
            yield key, "no", info.description or ""
            for sink in (WebhookSink, EmailSink):
                yield from reference_rows(sink, f"{key}.<{_tag(sink)}>.")
        elif name == "features":
            yield key, "yes", info.description or ""
            yield from reference_rows(Column, f"{key}.<column>.")
        elif _is_model(inner) and inner is not Column:
            many = typing.get_origin(info.annotation) is tuple
            yield from reference_rows(inner, f"{key}[]." if many else f"{key}.")
        else:
            yield key, "yes" if info.is_required() else "no", _meaning(info)


def _meaning(info: FieldInfo) -> str:
    text = info.description or ""
    if info.is_required() or info.default in (None, (), PydanticUndefined):
        return text
    default = info.default
    if isinstance(default, datetime):
        default = f"{default:%Y-%m-%d-%H:%M}"
    elif isinstance(default, StrEnum):
        default = default.value
    elif isinstance(default, bool):
        default = str(default).lower()
    elif isinstance(default, float) and default == math.floor(default) and default < 1e6:
        default = int(default)
    return f"{text} (default `{default}`)"


def reference_table() -> str:
    lines = ["| field | required | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{k}` | {r} | {m.replace('|', chr(92) + '|')} |" for k, r, m in reference_rows()]
    return "\n".join(lines) + "\n"
