"""Base model and YAML loading with errors that name the file, line and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from qneko_hw.errors import ConfigError

__all__ = ["Frozen", "load_yaml_model", "model_from_data"]

M = TypeVar("M", bound="Frozen")


class Frozen(BaseModel):
    """Immutable configuration model: unknown fields are errors, copies via :meth:`replace`."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    def replace(self, **changes: Any) -> Self:
        """Return a validated copy with ``changes`` applied."""
        data = self.model_dump()
        data.update(changes)
        return type(self).model_validate(data)


def _line_of(node: Any, loc: tuple[int | str, ...]) -> int | None:
    """Line (1-based) of the YAML node at ``loc``, or of its nearest existing parent."""
    import yaml

    line: int | None = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def _explain(exc: ValidationError, source: str, root_node: Any = None) -> ConfigError:
    lines = []
    first_field: str | None = None
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "<root>"
        first_field = first_field or field
        where = ""
        if root_node is not None:
            line = _line_of(root_node, loc)
            if line is not None:
                where = f" (line {line})"
        got = err.get("input")
        got_txt = f"; got {got!r}" if not isinstance(got, dict | list) else ""
        lines.append(f"  {field}{where}: {err['msg']}{got_txt}")
    message = f"invalid configuration ({len(lines)} problem(s)):\n" + "\n".join(lines)
    return ConfigError(message, source=source, field=first_field)


def model_from_data(model: type[M], data: Any, source: str = "<data>") -> M:
    """Validate ``data`` into ``model``; a failure raises :class:`ConfigError`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, source) from None


def load_yaml_model(
    model: type[M],
    path: str | Path,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> M:
    """Load a YAML file into ``model`` with errors naming file, line and field; ``prepare``
    (if given) rewrites the top-level mapping before validation (it may raise
    :class:`ConfigError`)."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", source=str(p)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}not valid YAML: {problem}", source=str(p)) from None
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", source=str(p))
    if prepare is not None:
        data = prepare(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, str(p), node) from None
