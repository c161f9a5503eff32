"""Reading `monitors.yaml`: a YAML loader that refuses duplicate keys and alias bombs, and pydantic's
errors rewritten as users read them (`<file>: model '<m>': field '<a.b>': <problem>`)."""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from monitoring_pipeline.config.models import (
    CONFIG_ENV,
    MAX_NODES,
    REPO_ROOT,
    SHOW_CHARS,
    SINK_TYPES,
    ConfigError,
    FieldProblems,
    MonitorsConfig,
    show,
)

# ---- reading the file --------------------------------------------------------------------------------


def default_config_path() -> Path:
    """MONITORING_CONFIG if set, else ./monitors.yaml, else the repository's monitors.yaml."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    local = Path.cwd() / "monitors.yaml"
    return local if local.exists() else REPO_ROOT / "monitors.yaml"


def load_config(path: str | Path | None = None) -> MonitorsConfig:
    """Read and validate a monitors file; raise ConfigError listing every problem."""
    path = Path(path) if path is not None else default_config_path()
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: 1 problem(s):\n  - top level: expected a mapping with a 'models' list")
    if "path" in raw:
        raise ConfigError(f"{path}: 1 problem(s):\n  - top level: unknown field 'path'")
    try:
        return MonitorsConfig.model_validate({**raw, "path": path}, context={"base": path.resolve().parent})
    except ValidationError as exc:
        problems = list(describe(exc, raw))
        raise ConfigError(f"{path}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems)) from None


def read_yaml(path: Path) -> Any:
    """The file's YAML document, refusing what would mislead or exhaust: duplicate keys, alias bombs."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (set {CONFIG_ENV} to choose another)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; expected a YAML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file (not UTF-8 at byte {exc.start}); expected YAML") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {type(exc).__name__}: {exc.strerror}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        problems = _node_problems(node)
        if problems:
            raise ConfigError(f"{path}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
        return loader.construct_document(node)
    except (
        yaml.YAMLError
    ) as exc:  # its problem and place, not PyYAML's quote of the line (it may hold a secret)
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML: {str(problem)[:SHOW_CHARS]}{where}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def _node_problems(root: yaml.Node) -> list[str]:
    """Duplicate keys in any mapping, and the size of the document once aliases are expanded."""
    problems: list[str] = []
    sizes: dict[int, int] = {}
    seen: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in seen:  # a recursive alias
            return MAX_NODES + 1
        seen.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value != "<<":
                    line = k.start_mark.line + 1
                    if k.value in keys:
                        problems.append(
                            f"line {line}: duplicate key {show(k.value)} (first at line {keys[k.value]}); "
                            "the second would silently replace the first"
                        )
                    keys.setdefault(k.value, line)
                total += size(k) + size(v)
                if total > MAX_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > MAX_NODES:
                    break
        sizes[key] = total
        return total

    if size(root) > MAX_NODES:
        problems.append(
            f"top level: the document expands to more than {MAX_NODES} nodes (aliases of aliases?); "
            "a monitors file needs a few hundred"
        )
    return problems


# ---- errors as users read them -----------------------------------------------------------------------


def describe(exc: ValidationError, raw: Any) -> Iterator[str]:
    """Each pydantic error as `model 'm': field 'a.b': problem`, its path named after the raw file."""
    errors = exc.errors(include_url=False)
    deeper = {tuple(e["loc"])[:i] for e in errors for i in range(len(e["loc"]))}
    for error in errors:
        if error["type"] == "too_short" and tuple(error["loc"]) in deeper:
            continue  # its items failed: that is the problem, not their number
        found = (error.get("ctx") or {}).get("error")
        if isinstance(found, FieldProblems):
            for sub, message in found.problems:
                yield _where(tuple(error["loc"]) + tuple(sub), raw) + message
            continue
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            allowed = _allowed(loc[:-1])
            hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
            yield _where(loc[:-1], raw) + f"unknown field {show(loc[-1])}{hint}"
            continue
        # a sink's settings may hold a secret put there by mistake (a webhook URL): never echo them
        yield _where(loc, raw) + _problem(error, echo=not _sensitive(loc))


def _sensitive(loc: tuple[Any, ...]) -> bool:
    """Under `alerting` or a model's `alerts`: a secret may have been put there by mistake (a webhook URL)."""
    return bool(loc) and (
        loc[0] == "alerting" or (len(loc) > 2 and loc[0] == "models" and loc[2] == "alerts")
    )


def _where(loc: tuple[Any, ...], raw: Any) -> str:
    """('models', 0, 'features', 1, 'kind') -> "model 'churn': field 'features.plan.kind': "."""
    head = ""
    if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
        models = raw.get("models") if isinstance(raw, dict) else None
        item = models[loc[1]] if isinstance(models, list) and loc[1] < len(models) else None
        name = item.get("name") if isinstance(item, dict) else None
        head = f"model {show(name)}" if isinstance(name, str) else f"models[{loc[1]}]"
        node, loc = item, loc[2:]
    else:
        node = raw
    parts: list[str] = []
    for i, part in enumerate(loc):
        if part in ("webhook", "email") and i > 0 and isinstance(node, dict) and node.get("type") == part:
            continue  # the discriminated union's tag
        if isinstance(part, int):
            if isinstance(node, dict):  # a mapping validated as a list (columns): name the key
                key = list(node)[part] if part < len(node) else part
                node = node.get(key)
                if i == len(loc) - 2 and loc[-1] == "name":
                    parts.append(str(key))
                    break
                parts.append(str(key))
            else:
                parts[-1:] = [f"{parts[-1] if parts else ''}[{part}]"]
                node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        parts.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
    field = f"field '{'.'.join(parts)}'" if parts else ""
    if head and field:
        return f"{head}: {field}: "
    return f"{head or field or 'top level'}: "


def _problem(error: Any, echo: bool = True) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = f"; got {show(value)}" if echo else f"; got a {type(value).__name__}"
    if kind == "missing":
        return "required"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        options = ctx.get("expected", "").replace("'", "").replace(" or ", ", ")
        return f"expected one of {options}{got}"
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return f"expected a whole number{got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number{got}"
    if kind == "finite_number":
        return f"expected a finite number{got}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[
            kind
        ]
        bound = next(iter(ctx.values()))  # float bounds belong to number fields, int ones to whole numbers
        number = "a number" if isinstance(bound, float) else "a whole number"
        return f"expected {number} {sign} {bound:g}{got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false{got}"
    if kind in ("string_type", "str_type"):
        return f"expected a string{got}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping{got}"
    if kind == "too_short":
        return "expected at least one entry"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        types_ = " or ".join(f"type: {t}" for t in SINK_TYPES)
        shown = f"; got {show(ctx.get('tag'))}" if echo else ""
        return f"expected a mapping with {types_}" + (shown if "tag" in ctx else "")
    if kind == "enum":
        return f"expected one of {ctx.get('expected', '').replace(chr(39), '').replace(' or ', ', ')}{got}"
    return str(error["msg"]) + got


def _allowed(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model at `loc` (for "unknown field" errors)."""
    target: Any = MonitorsConfig
    for part in loc:
        target = _unwrap(target, part)
        if target is None:
            return []
        if isinstance(part, str) and _is_model(target) and part in target.model_fields:
            target = target.model_fields[part].annotation
    target = _unwrap(target, None)
    if not _is_model(target):
        return []
    return sorted(f.alias or n for n, f in target.model_fields.items() if n not in ("name", "path"))


def _tag(t: Any) -> str | None:
    """The `type` tag of a member of a tagged union (a sink)."""
    if not _is_model(t) or "type" not in t.model_fields:
        return None
    values = typing.get_args(t.model_fields["type"].annotation)
    return values[0] if len(values) == 1 else None


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _unwrap(t: Any, part: Any) -> Any:
    """Through Annotated, Optional, tuple[X, ...], dict[str, X] and tagged unions, to the type at `part`."""
    while True:
        origin = typing.get_origin(t)
        if origin is Annotated:
            t = typing.get_args(t)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(t) if a is not type(None)]
            tagged = [a for a in options if part is not None and _tag(a) == part]
            models = [a for a in options if _is_model(a)]
            t = tagged[0] if tagged else (models[0] if len(models) == 1 else options[0])
            if tagged:
                return t
        elif origin in (tuple, dict):
            return typing.get_args(t)[-1 if origin is dict else 0]
        else:
            return t
