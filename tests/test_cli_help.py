"""Every command has help and is documented in docs/cli.md; the package's API lists are complete."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import engine
from engine.cli import app

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _commands(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        found.append(path)
        if hasattr(command, "commands"):
            found += _commands(command, path)
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_the_cli_has_the_commands_of_the_design():
    top = {path[0] for path in COMMANDS}
    assert {"demo", "synth", "train", "evaluate", "sensitivity", "decide", "explain", "rules",
            "report", "audit"} <= top
    assert ("rules", "check") in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_is_documented(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert f"`gridcredit {' '.join(path)}`" in DOCS.read_text(encoding="utf-8"), (
        f"document 'gridcredit {' '.join(path)}' in docs/cli.md")


def test_every_module_all_names_exist():
    for info in pkgutil.walk_packages(engine.__path__, "engine."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{info.name}.__all__ names missing '{name}'"
