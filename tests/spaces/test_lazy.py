"""The packages' lazy exports: every public name resolves, and importing a package imports none of them."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ("kerashpo", "kerashpo.spaces", "kerashpo.search", "kerashpo.pipelines")


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_resolves_and_is_listed(name):
    package = importlib.import_module(name)
    for public in package.__all__:
        assert getattr(package, public) is not None, public
    assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        package.missing  # noqa: B018


def test_the_type_checkers_names_for_spaces_are_the_exported_ones():
    import kerashpo.spaces

    tree = ast.parse(Path(kerashpo.spaces.__file__).read_text())
    checked = next(node for node in tree.body if isinstance(node, ast.If))
    imported = {(node.module, alias.name) for node in checked.body for alias in node.names}
    assert imported == {(module, name) for name, module in kerashpo.spaces._EXPORTS.items()}


def test_importing_one_module_of_spaces_loads_no_preset_and_no_numpy():
    probe = ("import sys, kerashpo.spaces.choices\n"
             "print(sorted(m for m in sys.modules if 'numpy' in m or 'presets' in m))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
