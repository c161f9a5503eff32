"""The monitored-models file (`monitors.yaml`): read, validated, frozen.

The file is described once, by the frozen pydantic models below: each field's type, bounds, default
and meaning (its `description`, from which the README's table is generated: `python -m
monitoring_pipeline.config`). Reading it:
- the YAML loader rejects duplicate keys (a second `models:` would silently drop the first) and
  aliases that expand past MAX_NODES nodes (a 367-byte "billion laughs" file);
- every problem is reported at once, each as `<file>: model '<m>': field '<a.b>': <problem>`, and no
  value is shown longer than SHOW_CHARS characters;
- relative paths are resolved against the file's own folder.

Modules: `models` (the schema), `loader` (reading the file, errors as users read them),
`readme_table` (the README's table). Import the names from here.
"""

from __future__ import annotations

from monitoring_pipeline.config.loader import (
    default_config_path,
    describe,
    load_config,
    read_yaml,
)
from monitoring_pipeline.config.models import (
    COLUMN_NAME,
    CONFIG_ENV,
    ENV_NAME,
    IDENTIFIER,
    MAX_NODES,
    OWNER,
    REPO_ROOT,
    RESERVED_COLUMNS,
    RESULTS_ENV,
    SHOW_CHARS,
    SINK_TYPES,
    WAREHOUSE_DATA_ENV,
    AlertingConfig,
    AlertRoute,
    Column,
    ColumnName,
    Columns,
    ConfigError,
    EmailSink,
    EnvName,
    FieldProblems,
    Flag,
    Frozen,
    Hour,
    LabelsConfig,
    Level,
    Location,
    ModelConfig,
    MonitorsConfig,
    MultivariateConfig,
    Number,
    ReferenceWindow,
    Severities,
    Severity,
    Share,
    SinkConfig,
    Text,
    Thresholds,
    WarehouseConfig,
    WebhookSink,
    Whole,
    parse_hour,
    resolve_location,
    show,
)
from monitoring_pipeline.config.readme_table import reference_rows, reference_table

__all__ = [
    "COLUMN_NAME",
    "CONFIG_ENV",
    "ENV_NAME",
    "IDENTIFIER",
    "MAX_NODES",
    "OWNER",
    "REPO_ROOT",
    "RESERVED_COLUMNS",
    "RESULTS_ENV",
    "SHOW_CHARS",
    "SINK_TYPES",
    "WAREHOUSE_DATA_ENV",
    "AlertRoute",
    "AlertingConfig",
    "Column",
    "ColumnName",
    "Columns",
    "ConfigError",
    "EmailSink",
    "EnvName",
    "FieldProblems",
    "Flag",
    "Frozen",
    "Hour",
    "LabelsConfig",
    "Level",
    "Location",
    "ModelConfig",
    "MonitorsConfig",
    "MultivariateConfig",
    "Number",
    "ReferenceWindow",
    "Severities",
    "Severity",
    "Share",
    "SinkConfig",
    "Text",
    "Thresholds",
    "WarehouseConfig",
    "WebhookSink",
    "Whole",
    "default_config_path",
    "describe",
    "load_config",
    "parse_hour",
    "read_yaml",
    "reference_rows",
    "reference_table",
    "resolve_location",
    "show",
]
