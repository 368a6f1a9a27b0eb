"""docs/plugins.md keeps up with the code (datasette's meta-tests): every hook, every field of
the op record and every plugin flag is documented."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from wengert.plugins import spec
from wengert.plugins.commands import PLUGIN_FLAGS
from wengert.plugins.opdef import OpDef

GUIDE = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
HOOKS = [name for name, fn in inspect.getmembers(spec, inspect.isfunction) if name.startswith("wengert_")]


def test_the_hookspecs_are_found():
    assert "wengert_ops" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_row_in_the_hooks_table(hook):
    assert re.search(rf"^\| `{hook}\(\)` \|", GUIDE, re.M)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(OpDef) if f.name != "plugin"])
def test_every_op_record_field_has_a_row_in_the_record_table(field):
    assert re.search(rf"^\| `{field}`( |,)", GUIDE, re.M) or re.search(rf"^\| `\w+`, `{field}` \|", GUIDE, re.M)


@pytest.mark.parametrize("flag", sorted(PLUGIN_FLAGS | {"verify_plugins", "verification_cache"}))
def test_every_plugin_flag_is_documented_with_its_environment_variable(flag):
    row = re.search(rf"^\| `--{flag.replace('_', '-')}.*$", GUIDE, re.M)
    assert row and f"WENGERT_{flag.upper()}" in row.group(0)
