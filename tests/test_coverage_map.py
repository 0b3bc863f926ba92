"""Every module of the package is named by some test's imports, or listed in ``REACHED_END_TO_END`` with the reason
it is tested only through the commands, processes or servers that run it.

The modules are the ``.py`` files under spaces/, search/ and pipelines/ (a package's ``__init__.py`` counts where it
holds more than its docstring). A test names a module by importing it, importing from it, importing a name that
a package re-exports from it (``from kerashpo.search import OptunaDriver`` names ``kerashpo.search.drivers.optuna``),
or by its dotted name alone in a string (``importlib.import_module``, ``python -m``); imports inside functions count,
imports inside code a child process runs do not. Read with ``ast``: nothing is
imported, the test takes a fraction of a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

LAYERS = ("spaces", "search", "pipelines")

# module -> why no test imports it: where it is tested instead.
REACHED_END_TO_END = {
    "kerashpo.pipelines.runtime.worker_start": "the first module a worker process imports (workers fork from a "
                                               "process started through it): tests/e2e/test_workers.py and the "
                                               "contract's hand-over and workers checks run those processes",
    "kerashpo.pipelines.runtime.workers": "the worker pool: only worth testing with real worker processes (the "
                                          "contract's hand-over, workers and kill -9 checks; tests/e2e/"
                                          "test_workers.py: Ctrl-C, kill -9 of the starter, a killed worker)",
    "kerashpo.pipelines.runtime.backend": "selects the Keras backend before Keras is imported, so once per process: "
                                          "tests/pipelines/test_backend.py runs `kerashpo run --backend jax` in "
                                          "fresh processes",
    "kerashpo.pipelines.run.finish": "the second half of run_pipeline (baseline, champion, test evaluation, export, "
                                     "card): every test that runs a search goes through it",
    "kerashpo.pipelines.run.card": "the model card every shipping run writes: tests/e2e/test_pipeline.py and "
                                   "tests/pipelines/test_export.py read the card a run wrote",
    "kerashpo.pipelines.run.predictions": "the test predictions a run logs for the report: "
                                          "tests/pipelines/test_report.py reads them from a finished run",
    "kerashpo.pipelines.ship.export": "export and predict as `kerashpo run`, `export` and `predict` do them, on "
                                      "real searches: tests/pipelines/test_export.py and test_export_errors.py",
    "kerashpo.pipelines.review.compare": "`kerashpo compare` over finished runs: tests/pipelines/test_compare.py",
    "kerashpo.pipelines.ablation.figures": "drawn by `kerashpo ablate` over a finished search: "
                                           "tests/pipelines/test_ablation.py runs it whole and reads the figures",
    "kerashpo.pipelines.ablation.tracking": "the MLflow runs of `kerashpo ablate`: tests/pipelines/test_ablation.py "
                                            "reads them",
    "kerashpo.pipelines.web.dashboard": "a server (optuna-dashboard): tests/pipelines/test_review_ui.py and "
                                        "tests/e2e/test_workers.py start `kerashpo dashboard` and read its pages",
    "kerashpo.pipelines.web.mlflow_ui": "a server (mlflow ui): tests/pipelines/test_review_ui.py starts "
                                        "`kerashpo ui` and reads its pages in a browser",
    "kerashpo.search.training.modules": "loads a user's build_model module as `kerashpo run` does: "
                                        "tests/search/test_keras_tuner.py gives it missing and broken modules and "
                                        "reads the one-line refusals; every build_model search loads a real one",
    "kerashpo.spaces.lazy": "the lazy __getattr__ of every package: tests/spaces/test_lazy.py imports each package "
                            "and resolves each of its public names",
}


def package_modules() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in sorted((REPO / layer).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                body = ast.parse(path.read_text()).body
                if all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body):
                    continue  # a docstring alone: nothing to test
                parts = parts[:-1]
            found["kerashpo." + ".".join(parts)] = path
    return found


def reexports(modules: dict[str, Path]) -> dict[tuple[str, str], str]:
    """(package, name) -> the module defining it, from each package's ``_EXPORTS`` table."""
    found = {}
    for package in [*modules, "kerashpo"]:
        path = REPO / "__init__.py" if package == "kerashpo" else modules[package]
        if path.name != "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            target = node.target if isinstance(node, ast.AnnAssign) else \
                node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
            if isinstance(target, ast.Name) and target.id == "_EXPORTS" and isinstance(node.value, ast.Dict):
                for key, value in zip(node.value.keys, node.value.values):
                    where = value.elts[0] if isinstance(value, ast.Tuple) else value
                    if isinstance(key, ast.Constant) and isinstance(where, ast.Constant):
                        found[(package, key.value)] = where.value
    return found


def imported_by_tests(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the test files that name it."""
    exported = reexports(modules)
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "tests").rglob("*.py")):
        if path.resolve() == Path(__file__).resolve():  # the map names every module it lists; it tests none of them
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names),
                         *(exported.get((node.module, a.name), "") for a in node.names)]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in modules:
                names = [node.value]  # importlib.import_module("kerashpo.pipelines"), python -m kerashpo.x
            else:
                continue
            for name in names:
                found.setdefault(name, set()).add(path.relative_to(REPO).as_posix())
    return found


MODULES = package_modules()


def test_the_walk_finds_the_layers_modules_and_the_tests_imports():
    assert {"kerashpo.pipelines.config", "kerashpo.search.drivers.optuna", "kerashpo.spaces.space"} <= set(MODULES)
    assert "kerashpo.search.drivers" not in MODULES  # a docstring alone
    imported = imported_by_tests(MODULES)
    assert "tests/pipelines/test_config.py" in imported["kerashpo.pipelines.config"]
    # Through a package's re-export: tests/search/test_drivers.py imports OptunaDriver from kerashpo.search.
    assert "tests/search/test_drivers.py" in imported["kerashpo.search.drivers.optuna"]


def test_every_module_is_imported_by_a_test_or_listed_as_reached_end_to_end():
    imported = imported_by_tests(MODULES)
    untested = sorted(name for name in MODULES if name not in imported and name not in REACHED_END_TO_END)
    assert not untested, ("import these in a test (a direct test of what they do), or list them in "
                          f"REACHED_END_TO_END with the test that reaches them: {untested}")


def test_the_end_to_end_list_names_only_modules_no_test_imports():
    imported = imported_by_tests(MODULES)
    assert not set(REACHED_END_TO_END) - set(MODULES), "a listed module is gone: remove it from the list"
    assert not {name: sorted(imported[name]) for name in REACHED_END_TO_END if name in imported}, \
        "a test imports these now: remove them from REACHED_END_TO_END"
    assert all(len(reason) > 40 for reason in REACHED_END_TO_END.values())
