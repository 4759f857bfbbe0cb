"""The apps' layering holds: imports point only down (import-linter contract in pyproject.toml)."""

import subprocess
import sys
import tomllib
from pathlib import Path

from django.apps import apps
from django.conf import settings

PYPROJECT = Path(settings.BASE_DIR) / "pyproject.toml"


def _config() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]


def test_every_project_app_has_a_place_in_the_layers():
    """A new app must be put in a layer, or its imports would go unchecked."""
    base = Path(settings.BASE_DIR).resolve()
    ours = {a.name.split(".")[0] for a in apps.get_app_configs() if Path(a.path).resolve().parent == base}
    layers = {name for layer in _config()["contracts"][0]["layers"] for name in layer.split("|")}
    missing = ours - layers
    assert not missing, f"add {sorted(missing)} to the layers in pyproject.toml [tool.importlinter]"
    assert ours <= set(_config()["root_packages"])


def test_apps_import_only_from_lower_layers():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--config", str(PYPROJECT), "--no-cache"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout
