"""The production install carries only what the running site needs: the reference libraries
the statistics are checked against (statsmodels, krippendorff, and pandas with them) belong
to the `test` extra."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement

from tests.processes import ROOT, run_python

TEST_ONLY = ("statsmodels", "krippendorff", "pandas")

#: Imports every module of the installed packages with the test-only libraries made
#: unimportable, as on a production machine that never installed them.
WITHOUT_TEST_LIBRARIES = f"""
import importlib, pkgutil, sys
for name in {TEST_ONLY!r}:
    sys.modules[name] = None  # `import name` now raises ImportError
import django
django.setup()
for package in ("config", "annotation", "api", "ops"):
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(module.name)
print("imported")
"""


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(line).name.lower() for line in requirements}


def test_the_test_only_libraries_are_in_the_test_extra_not_the_main_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not _names(project["dependencies"]) & set(TEST_ONLY)
    assert {"statsmodels", "krippendorff"} <= _names(project["optional-dependencies"]["test"])


def test_every_module_of_the_site_imports_without_the_test_only_libraries():
    result = run_python("-c", WITHOUT_TEST_LIBRARIES, DJANGO_SETTINGS_MODULE="config.settings")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("imported")
