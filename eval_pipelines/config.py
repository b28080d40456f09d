"""YAML configuration with packaged defaults, validated by pydantic, errors naming file and line.

Every user-editable file (ingestion keys, prices, and later evaluators, rubrics, alert rules) is
loaded through :func:`load_config`, so a bad value is reported as ``file:line: field: problem``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)
# libyaml's parser where PyYAML was built with it: every asset reads its settings on each run, and the pure-Python
# parser made that a tenth of an hour's build.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """A configuration file is invalid; the message names the file and line."""


def packaged_default(name: str) -> Path:
    return Path(str(resources.files("eval_pipelines") / "defaults" / name))


class SettingsModel(BaseModel):
    """A block of a settings file: unknown keys are errors, and each field's docstring is its reference text."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


@dataclass(frozen=True)
class SettingsFile:
    """A settings file a deployment may copy: its packaged default and the environment variable naming the copy."""

    name: str
    env_var: str

    def packaged(self) -> Path:
        return packaged_default(self.name)

    def path(self) -> Path:
        """The copy the environment variable names, else the packaged default."""
        return Path(os.environ[self.env_var]) if os.environ.get(self.env_var) else self.packaged()


def _node_at(node: yaml.Node, loc: tuple[Any, ...]) -> yaml.Node:
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            match = node.value[part]
        else:
            match = None
        if match is None:
            break
        node = match
    return node


def line_of(path: Path | str, loc: tuple[Any, ...]) -> int:
    """The line of ``loc`` (keys and list positions) in a YAML file that has loaded: for problems found after
    validation, so that they name the line too."""
    root = yaml.compose(Path(path).read_text(encoding="utf-8"))
    return _node_at(root, loc).start_mark.line + 1 if root is not None else 1


def load_config(path: Path | str, model: type[ModelT]) -> ModelT:
    """Parse and validate one YAML file; raises :class:`ConfigError` naming the offending line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        root = yaml.compose(text, Loader=_LOADER)
        problems = []
        for error in exc.errors():
            loc = tuple(part for part in error["loc"] if not isinstance(part, str) or part != "__root__")
            line = _node_at(root, loc).start_mark.line + 1 if root is not None else 1
            field = ".".join(map(str, loc)) or "(top level)"
            problems.append(f"{path}:{line}: {field}: {error['msg']}")
        raise ConfigError("\n".join(problems)) from exc
