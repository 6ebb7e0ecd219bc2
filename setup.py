"""The build compiles the translation catalogs (.po ─▶ .mo); everything else is in
pyproject.toml.

`build_py` runs for a wheel (`pip install .`) and for an editable install
(`pip install -e .`, PEP 660) alike. For a wheel the .mo files are written into the build
folder, so they ship in the wheel without ever appearing in the source tree. An editable
install imports the package from the source tree, so there they are written beside their
.po (and ignored by git). Babel comes from `[build-system] requires`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _i18n_tools():  # type: ignore[no-untyped-def]
    """bot/i18n_tools.py by its path: importing the `bot` package would need its
    dependencies, which the isolated build environment does not have."""
    spec = importlib.util.spec_from_file_location(
        "_wardvoice_i18n_tools", HERE / "bot" / "i18n_tools.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithCatalogs(build_py):
    def run(self) -> None:
        tools = _i18n_tools()
        source = HERE / "bot" / "locale"
        if getattr(self, "editable_mode", False):
            # Before the files are gathered, so a strict editable install links them too.
            written = tools.compile_all(source)
            super().run()
        else:
            super().run()
            written = tools.compile_all(source, Path(self.build_lib) / "bot" / "locale")
            self._catalogs = [str(p) for p in written]
        for mo in written:
            self.announce(f"compiled translation catalog {mo}", level=2)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), *getattr(self, "_catalogs", [])]


setup(cmdclass={"build_py": BuildPyWithCatalogs})
