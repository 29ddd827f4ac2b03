"""The package's promises about itself: training without Optuna, one records contract."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny import TINY

PACKAGE = Path(__file__).resolve().parents[1] / "tuner"
STORED_NAME_CALLS = {"set_user_attr", "set_system_attr"}
STORED_DICTS = {"user_attrs", "system_attrs"}


def modules_after(code: str) -> set[str]:
    """Top-level module names imported after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=PACKAGE.parent, check=True, timeout=300)
    return set(out.stdout.split())


def test_importing_training_does_not_import_optuna():
    loaded = modules_after("import tuner.training, tuner.data, tuner.config, tuner.records")
    assert "torch" in loaded and "optuna" not in loaded


@pytest.mark.slow
def test_tuner_train_runs_without_importing_optuna():
    args = ["train", *[f"{k}={v}" for k, v in {**TINY, "epochs": 1}.items()]]
    code = ("import sys\nfrom tuner.cli import app\n"
            f"try:\n    app({args!r}, prog_name='tuner')\n"
            "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n")
    loaded = modules_after(code)
    assert "torch" in loaded and "optuna" not in loaded


def test_the_public_api_of_study_files():
    import tuner

    for name in ("StudySpec", "categorical", "float_range", "int_range", "best_of",
                 "TrainConfig", "TunerError"):
        assert getattr(tuner, name) is not None
    with pytest.raises(AttributeError):
        tuner.no_such_name  # noqa: B018


def stored_names_written_as_strings(path: Path) -> list[str]:
    """``set_user_attr("x", ...)``, ``user_attrs.get("x")`` or ``user_attrs["x"]`` in
    ``path``: stored names that bypass the constants of tuner.records."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            owner = node.func.value
            if node.func.attr in STORED_NAME_CALLS or (
                    node.func.attr == "get" and isinstance(owner, ast.Attribute)
                    and owner.attr in STORED_DICTS):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                and node.value.attr in STORED_DICTS:
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {key.value!r}")
    return found


def test_every_stored_name_comes_from_records():
    offenders = [hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "records.py"
                 for hit in stored_names_written_as_strings(path)]
    assert offenders == []


def test_modules_stay_small_and_say_what_they_own():
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 400, path
        doc = ast.get_docstring(ast.parse(text))
        assert doc and doc.strip(), f"{path} opens with no sentence on what it owns"


def test_heavy_imports_pause_the_garbage_collector_and_restore_it():
    import gc

    from tuner.startup import heavy_imports

    assert gc.isenabled()
    with heavy_imports():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with heavy_imports():
            pass
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


def test_heavy_imports_freeze_once_and_never_freeze_garbage(monkeypatch):
    """Commands run again and again in one process (tests, notebooks) must not pin what
    earlier runs dropped: a frozen storage keeps its database connections open for good."""
    import gc
    import weakref

    from tuner import startup as common

    class Holder:  # stands for a storage in a reference cycle (as Optuna's are)
        pass

    def dropped_cycle():
        holder = Holder()
        holder.me = holder
        return weakref.ref(holder)

    monkeypatch.setattr(common, "_imports_frozen", False)
    garbage_before = dropped_cycle()
    with common.heavy_imports():
        created = [[] for _ in range(1000)]  # what the first imports leave behind
    frozen = gc.get_freeze_count()
    assert frozen >= len(created)
    assert garbage_before() is None  # collected before the freeze, not pinned by it

    garbage_between = dropped_cycle()
    with common.heavy_imports():  # a second command in the same process
        pass
    assert gc.get_freeze_count() == frozen  # nothing more frozen
    gc.collect()
    assert garbage_between() is None
    gc.unfreeze()  # hand the test process its objects back


#: tuner's layers, lowest first; a module may import its own layer and the ones below
LAYERS = ["vocabulary", "data", "training", "results", "inference", "search", "study",
          "workers", "reports", "api", "cli"]


def _layer(module: str) -> int:
    part = module.split(".")[1] if module.count(".") else "vocabulary"
    return LAYERS.index(part) if part in LAYERS else 0


def _imports() -> dict[str, set[str]]:
    """Every tuner module -> the tuner modules it imports (function-level imports too)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        graph[module] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 \
                and node.module else []
            graph[module] |= {n for n in names if n.startswith("tuner.")}
    return graph


def test_imports_point_down_the_layers_only():
    """cli -> api -> reports -> workers -> study -> search -> inference -> results ->
    training -> data -> the vocabulary (docs/architecture.md). The package root is the
    study files' facade (lazy names from study/) and stands outside the layers."""
    upward = [f"{module} -> {name}" for module, names in _imports().items() if module != "tuner"
              for name in names if _layer(name) > _layer(module)]
    assert upward == []


def test_no_two_modules_import_each_other():
    graph = _imports()
    known = {m: {n if n in graph else n.rsplit(".", 1)[0] for n in names} - {m}
             for m, names in graph.items()}  # `from tuner.x import name`: the module x
    circles = []
    for start in known:
        stack, seen = [(start, [start])], set()
        while stack:
            module, path = stack.pop()
            for name in known.get(module, ()):
                if name == start:
                    circles.append(" -> ".join([*path, start]))
                elif name not in seen:
                    seen.add(name)
                    stack.append((name, [*path, name]))
    assert circles == []
