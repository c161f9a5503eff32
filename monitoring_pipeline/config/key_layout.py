"""How a model's prediction logs are laid out in object storage: `logs_layout`, a template of one
hour's folder with named fields, or a preset (`PRESETS`): our own `hive` folders, Kinesis Data
Firehose's default prefix, Kafka Connect's S3 sink with its `TimeBasedPartitioner`. Part of the config
(checked when the monitors file loads); pure, no I/O: storage and pipeline list the folders it names.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

TIME_FIELDS = {  # name -> (strftime code, what it matches in a key)
    "yyyy": ("%Y", r"\d{4}"),
    "MM": ("%m", r"\d{2}"),
    "dd": ("%d", r"\d{2}"),
    "HH": ("%H", r"\d{2}"),
}
PRESETS = {
    "hive": "{model}/dt={yyyy}-{MM}-{dd}/hour={HH}/",
    "firehose": "{prefix}{yyyy}/{MM}/{dd}/{HH}/",
    "kafka_connect": "topics/{topic}/year={yyyy}/month={MM}/day={dd}/hour={HH}/",
}
# the sinks write by arrival (processing) time: their hours are event hours read across arrival folders
EVENT_TIME_PRESETS = ("firehose", "kafka_connect")
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def field_defaults(model: str) -> dict[str, str]:
    """The values of the presets' named fields when the config gives none."""
    return {"prefix": f"{model}/", "topic": model}


class LayoutError(ValueError):
    """The template is not a usable hour folder; the message says why."""


@dataclass(frozen=True)
class KeyLayout:
    """One model's hour folders: `folder(hour)` to list, `hour_of(key)` to read a key's hour back."""

    template: str
    fields: Mapping[str, str] = field(default_factory=dict)  # every non-time field, `model` included

    def folder(self, hour: datetime) -> str:
        hour = hour.astimezone(UTC)
        values = dict(self.fields) | {name: hour.strftime(fmt) for name, (fmt, _) in TIME_FIELDS.items()}
        return self.template.format_map(values)

    def hour_of(self, key: str) -> datetime | None:
        """The UTC hour of the folder `key` is in, or None when the key is outside the layout."""
        match = _pattern(self).match(key)
        if match is None:
            return None
        try:
            parts = [int(match.group(name)) for name in TIME_FIELDS]
            return datetime(*parts, tzinfo=UTC)
        except ValueError:  # 2026/02/30: not an hour
            return None

    def root(self) -> str:
        """The key prefix every hour folder starts with (the text before the first time field)."""
        root = []
        for literal, name, _, _ in string.Formatter().parse(self.template):
            root.append(literal)
            if name in TIME_FIELDS:
                break
            if name is not None:
                root.append(self.fields[name])
        return "".join(root)


def _pattern(layout: KeyLayout) -> re.Pattern[str]:
    parts = []
    for literal, name, _, _ in string.Formatter().parse(layout.template):
        parts.append(re.escape(literal))
        if name in TIME_FIELDS:
            parts.append(f"(?P<{name}>{TIME_FIELDS[name][1]})")
        elif name is not None:
            parts.append(re.escape(layout.fields[name]))
    return re.compile("".join(parts))


def key_layout(layout: str, model: str, given: Mapping[str, str]) -> KeyLayout:
    """The layout named by a preset or written as a template, with its fields filled; LayoutError
    unless it names one folder per UTC hour (each time field once, a folder ending in `/`)."""
    template = PRESETS.get(layout, layout)
    if "{" not in template:
        raise LayoutError(
            f"{layout!r} is neither a preset ({', '.join(PRESETS)}) nor a template with "
            "{yyyy}, {MM}, {dd} and {HH}"
        )
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise LayoutError(f"{template!r}: {exc}") from None
    names = [name for _, name, _, _ in parsed if name is not None]
    for _, name, spec, conversion in parsed:
        if name is not None and (spec or conversion or not FIELD_NAME.match(name)):
            raise LayoutError(f"{template!r}: {{{name}...}} must be a plain field name such as {{prefix}}")
    for name in TIME_FIELDS:
        if names.count(name) != 1:
            raise LayoutError(f"{template!r}: needs {{{name}}} exactly once (one folder per UTC hour)")
    if not template.endswith("/") or template.startswith("/") or "//" in template:
        raise LayoutError(f"{template!r}: must be a folder (end in '/', no leading '/', no '//')")
    named = {n for n in names if n not in TIME_FIELDS}
    unused = sorted(set(given) - (named - {"model"}))
    if unused:  # a misspelt field would quietly leave its default in the path
        fields = ", ".join("{" + n + "}" for n in sorted(named - {"model"})) or "none"
        raise LayoutError(
            f"{template!r}: logs_fields {unused} are not fields of the template (its fields: {fields}; "
            "{model} is always the model's name)"
        )
    values = field_defaults(model) | dict(given) | {"model": model}
    missing = sorted({n for n in names if n not in TIME_FIELDS and n not in values})
    if missing:
        shown = ", ".join("{" + n + "}" for n in missing)
        raise LayoutError(f"{template!r}: no value for {shown} (set it in logs_fields)")
    used = {n: values[n] for n in names if n not in TIME_FIELDS}
    for name, value in used.items():
        if any(c in value for c in "{}") or ".." in value.split("/") or value.startswith("/"):
            raise LayoutError(f"logs_fields.{name}: {value!r} may not hold braces, '..' or a leading '/'")
    layout = KeyLayout(template, used)
    example = layout.folder(datetime(2000, 1, 1, tzinfo=UTC))
    if "//" in example or example.startswith("/"):
        raise LayoutError(f"{template!r} with logs_fields {dict(given)}: {example!r} is not a folder path")
    return layout
