"""MkDocs hook: the reference pages, generated from the code when the site is built, so they cannot drift from it.

- ``reference/configuration.md``: every settings file's fields, from the pydantic models that validate it;
- ``reference/tables.md``: every lake table's columns and partitioning, from the registry writes are checked against;
- ``reference/definitions.md``: every asset, check, sensor, schedule and job, from the Dagster definitions;
- ``reference/cli.md``: every ``eval-pipelines`` command, from its argument parser.
"""

from __future__ import annotations

import argparse
import html
import types
import typing
from collections.abc import Iterator

from mkdocs.structure.files import File, Files
from pydantic import BaseModel

from eval_pipelines.configuration import SETTINGS
from eval_pipelines.judge.rubrics import RUBRICS_ENV_VAR, Rubric


def on_files(files: Files, config) -> Files:
    for path, build in (("reference/configuration.md", configuration_page), ("reference/tables.md", tables_page),
                        ("reference/definitions.md", definitions_page), ("reference/cli.md", cli_page)):
        files.append(File.generated(config, path, content=build()))
    return files


def cell(text: object) -> str:
    """Text for a Markdown table cell: escaped, on one line."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "&#124;")


def type_name(annotation: typing.Any) -> str:
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in args)
    if origin is typing.Literal:
        return " or ".join(repr(arg) for arg in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(arg) for arg in args)}]"
    return str(annotation).replace("typing.", "")


def _nested_models(annotation: typing.Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _nested_models(arg)


def models_within(root: type[BaseModel]) -> list[type[BaseModel]]:
    """``root``, then every model its fields hold, each once, in the order met."""
    found, queue = [], [root]
    while queue:
        model = queue.pop(0)
        if model not in found:
            found.append(model)
            queue += [nested for field in model.model_fields.values() for nested in _nested_models(field.annotation)]
    return found


def model_tables(root: type[BaseModel]) -> list[str]:
    """A table of ``root``'s fields, then one for each model its fields hold."""
    lines = []
    for model in models_within(root):
        lines += [f"#### `{model.__name__}`", "", "| field | type | default | description |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            default = "required" if field.is_required() else _default(field.get_default(call_default_factory=True))
            lines.append(f"| `{field.alias or name}` | {cell(type_name(field.annotation))} | {cell(default)} | "
                         f"{cell(field.description or '')} |")
        lines.append("")
    return lines


def _default(value: object) -> str:
    if isinstance(value, BaseModel):
        return "its fields' defaults"
    return f"`{value!r}`" if len(repr(value)) <= 80 else "see the packaged file"


def configuration_page() -> str:
    lines = ["# Configuration files", "", "Every file a deployment may copy and edit, with the model that validates "
             "it (an error names the file, line and field). The packaged defaults are in "
             "`eval_pipelines/defaults/`; a copy is used when the variable names it.", ""]
    for entry in SETTINGS:
        lines += [f"## `{entry.file.name}`", "", f"Copy named by: `{entry.file.env_var}`.", "", "The packaged default:",
                  "", "```yaml", entry.file.packaged().read_text().rstrip(), "```", ""]
        lines += model_tables(entry.model)
    lines += ["## `rubrics/<name>.yaml`", "", f"One file per rubric, in the folder `{RUBRICS_ENV_VAR}` (or the judge "
              "resource's `rubrics_folder`) names; a file there replaces the packaged rubric of its name "
              "(`eval_pipelines/defaults/rubrics/`).", ""]
    lines += model_tables(Rubric)
    return "\n".join(lines)


def tables_page() -> str:
    from eval_pipelines.schemas import TABLES

    lines = ["# Lake tables", "", "Every table the pipeline writes, with its partitioning and columns; a write that "
             "differs is refused.", ""]
    for name, table in TABLES.items():
        lines += [f"## `{name}`", "", f"Partitioned by {table.partitioned_by}.", "",
                  "| column | type | nullable |", "|---|---|---|"]
        lines += [f"| `{field.name}` | {cell(field.type)} | {'yes' if field.nullable else 'no'} |"
                  for field in table.schema]
        lines.append("")
    return "\n".join(lines)


def definitions_page() -> str:
    from eval_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    lines = ["# Dagster definitions", "", "What `definitions.py` loads, by group (the stage folders of "
             "`eval_pipelines/defs/`).", ""]
    keys = sorted(graph.get_all_asset_keys(), key=lambda key: (graph.get(key).group_name, key.to_user_string()))
    group = None
    for key in keys:
        node = graph.get(key)
        if node.group_name != group:
            group = node.group_name
            lines += ["", f"## Group `{group}`", "", "| asset | kinds | partitions | description |",
                      "|---|---|---|---|"]
        partitions = type(node.partitions_def).__name__.removesuffix("PartitionsDefinition") \
            if node.partitions_def else "-"
        lines.append(f"| `{key.to_user_string()}` | {cell(', '.join(sorted(node.kinds)))} | {partitions} | "
                     f"{cell(node.description or '')} |")
    lines += ["", "## Asset checks", "", "| check | asset | description |", "|---|---|---|"]
    for check in sorted(graph.asset_check_keys, key=lambda check: check.name):
        spec = graph.get_check_spec(check)
        lines.append(f"| `{check.name}` | `{check.asset_key.to_user_string()}` | {cell(spec.description or '')} |")
    lines += ["", "## Jobs", "", "| job | description |", "|---|---|"]
    lines += [f"| `{job.name}` | {cell(job.description or '')} |" for job in sorted(defs.jobs, key=lambda j: j.name)]
    lines += ["", "## Sensors", "", "| sensor | minimum interval | description |", "|---|---|---|"]
    lines += [f"| `{sensor.name}` | {sensor.minimum_interval_seconds or 30} s | {cell(sensor.description or '')} |"
              for sensor in sorted(defs.sensors, key=lambda s: s.name)]
    lines += ["", "## Schedules", "", "| schedule | cron (UTC) | job | description |", "|---|---|---|---|"]
    lines += [f"| `{s.name}` | `{s.cron_schedule}` | `{s.job_name}` | {cell(s.description or '')} |"
              for s in sorted(defs.schedules, key=lambda s: s.name)]
    return "\n".join(lines) + "\n"


def cli_page() -> str:
    from eval_pipelines.cli import build_parser

    parser = build_parser()
    lines = ["# Command line", "", "`eval-pipelines` (installed in `.venv/bin/`), each command's help as it prints it.",
             "", "```text", parser.format_help().rstrip(), "```", ""]
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - argparse has no public way to list them
        for name, command in action.choices.items():
            lines += [f"## `{name}`", "", "```text", _help(command).rstrip(), "```", ""]
    return "\n".join(lines)


def _help(parser: argparse.ArgumentParser) -> str:
    nested = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]  # noqa: SLF001
    return parser.format_help() + "".join(f"\n{command.format_help()}" for action in nested
                                          for command in action.choices.values())
