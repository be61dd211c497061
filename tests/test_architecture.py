"""The shape of the code: no import cycle, no use of another module's private names, one atomic writer.

Every module under cnnviz/ is found by walking the tree (modules added later are covered)
and parsed with ``ast``; its module-level imports of cnnviz modules (absolute or relative,
``from cnnviz import x`` where x is a submodule, imports under ``if``/``try`` included) form a
graph that must be acyclic. The imports inside functions (kept there to keep heavy modules off
light paths) are held to the same rule: counting them too, the graph is still acyclic, so a
deferred import never hides a cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "cnnviz"


def _modules() -> dict[str, Path]:
    """Dotted module name → file, for every .py under cnnviz/ (packages by their __init__)."""
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _top_level_imports(tree: ast.Module):
    """Import statements run when the module is imported: module level, or nested in if/try/with."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)) or type(node).__name__ == "TryStar":
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []) or []:
                    stack.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _all_imports(tree: ast.Module):
    """Every import statement, those inside functions and classes included."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def import_graph(*, inside_functions: bool = False) -> dict[str, set[str]]:
    modules = _modules()
    imports = _all_imports if inside_functions else _top_level_imports

    def owner(name: str) -> str | None:
        """The cnnviz module ``name`` loads (its longest known prefix)."""
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve(module, is_package, node)
                # `from cnnviz import zoo`: the submodule if there is one, else the package itself.
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    dep = owner(target)
                    if dep is not None and dep != module:
                        graph[module].add(dep)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None (iterative DFS, three colours)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {m: WHITE for m in graph}
    for start in sorted(graph):
        if colour[start] != WHITE:
            continue
        path = [start]
        colour[start] = GREY
        iters = [iter(sorted(graph[start]))]
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                colour[path.pop()] = BLACK
                iters.pop()
            elif colour[nxt] == GREY:
                return path[path.index(nxt):] + [nxt]
            elif colour[nxt] == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                iters.append(iter(sorted(graph[nxt])))
    return None


def test_the_walk_finds_the_modules_and_their_imports():
    graph = import_graph()
    assert {"cnnviz", "cnnviz.inspect", "cnnviz.charts", "cnnviz.graph", "cnnviz.bench",
            "cnnviz.visualize._base", "cnnviz.commands.bench"} <= set(graph)
    assert "cnnviz.inspect" in graph["cnnviz.charts"]
    assert "cnnviz.graph" in graph["cnnviz.visualize._base"]
    assert "cnnviz.bench.inference" in graph["cnnviz.bench"]          # from cnnviz.bench import inference
    assert "cnnviz.bench" in graph["cnnviz.commands.bench"]            # from cnnviz import bench


def test_inspect_imports_nothing_above_it():
    assert import_graph()["cnnviz.inspect"] <= {"cnnviz", "cnnviz.graph"}


def test_no_import_cycle_in_cnnviz():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_no_import_cycle_counting_imports_inside_functions():
    graph = import_graph(inside_functions=True)
    assert "cnnviz.homework.transfer" in graph["cnnviz.homework"]  # `from cnnviz.homework import transfer` in run()
    assert "cnnviz.homework.transfer" not in import_graph()["cnnviz.homework"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle through a deferred import: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_imports_resolve(tmp_path):
    node = ast.parse("from .maps import x").body[0]
    assert _resolve("cnnviz.visualize.core", False, node) == "cnnviz.visualize.maps"
    assert _resolve("cnnviz.visualize", True, node) == "cnnviz.visualize.maps"
    node = ast.parse("from .. import errors").body[0]
    assert _resolve("cnnviz.visualize.core", False, node) == "cnnviz"


# --------------------------------------------------------------------------- private names

def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses() -> set[tuple[str, str]]:
    """``(importer, "owner._name")`` for every use of another cnnviz module's private name.

    Counted: ``from cnnviz.x import _y`` and ``x._y`` where ``x`` is a name bound to a cnnviz
    module by an import (``import cnnviz.x as x``, ``from cnnviz import x``, ``cnnviz.x._y``), at
    any depth of the file. A package's private submodule (``cnnviz/visualize/_base.py``) may be
    imported by the modules of that package; its private names may not.
    """
    modules = _modules()
    found: set[tuple[str, str]] = set()
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        bound: dict[str, str] = {}  # local name → cnnviz module it names
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        bound[alias.asname or alias.name.split(".")[0]] = (
                            alias.name if alias.asname else alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                if base not in modules:
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if full in modules:
                        bound[alias.asname or alias.name] = full
                        if _private(alias.name) and not module.startswith(base + "."):
                            found.add((module, full))
                    elif _private(alias.name) and base != module:
                        found.add((module, full))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            parts, value = [], node.value
            while isinstance(value, ast.Attribute):
                parts.append(value.attr)
                value = value.value
            if not isinstance(value, ast.Name) or value.id not in bound:
                continue
            owner = ".".join([bound[value.id], *reversed(parts)])
            if owner in modules and owner != module:
                found.add((module, f"{owner}.{node.attr}"))
    return found


def test_package_private_modules_are_not_counted():
    assert not any(name == "cnnviz.visualize._base" for _, name in private_uses())  # visualize.core uses it


# Private names that other helpers' modules still use, to be made public there; the lead empties
# this list after merging issue 18 part 5 (each entry: importer, the private name it uses).
PRIVATE_USES_TO_CONVERT: set[tuple[str, str]] = set()  # all converted (issue 18)


def test_no_module_uses_another_modules_private_names():
    uses = private_uses()
    new = sorted(uses - PRIVATE_USES_TO_CONVERT)
    assert not new, "private names used from another module (make them public): " + ", ".join(
        f"{user} uses {name}" for user, name in new)
    gone = sorted(PRIVATE_USES_TO_CONVERT - uses)
    assert not gone, f"converted, remove from PRIVATE_USES_TO_CONVERT: {gone}"


def test_the_private_name_finder_flags_both_forms(tmp_path, monkeypatch):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def _hidden(): pass\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "_impl.py").write_text("")
    (pkg / "sub" / "ok.py").write_text("from cnnviz.sub import _impl\n")  # package-private module: fine
    (pkg / "b.py").write_text("from cnnviz.a import _hidden\n")
    (pkg / "c.py").write_text("from cnnviz import a\n\ndef f():\n    return a._hidden()\n")
    (pkg / "d.py").write_text("import cnnviz.a\n\ndef f():\n    return cnnviz.a._hidden, cnnviz.__version__\n")
    (pkg / "e.py").write_text("from cnnviz.sub import _impl\n")  # another package's private module
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert private_uses() == {("cnnviz.b", "cnnviz.a._hidden"), ("cnnviz.c", "cnnviz.a._hidden"),
                              ("cnnviz.d", "cnnviz.a._hidden"), ("cnnviz.e", "cnnviz.sub._impl")}


# --------------------------------------------------------------------------- one atomic writer

ATOMIC_WRITER = "cnnviz.fileio"

# Modules of other helpers that still rename temp files into place by hand; the lead empties this
# after their conversion to cnnviz.fileio (module → how many hand-written renames/temp files it has).
HAND_WRITTEN_ATOMIC_TO_CONVERT: dict[str, int] = {}  # all converted (issue 18)


def hand_written_atomic_writes() -> dict[str, int]:
    """Module → number of renames into place and temp-file makers it calls itself.

    Counted: ``os.replace``/``os.rename``, ``tempfile.mkstemp``/``NamedTemporaryFile``, and a
    ``<path>.replace(x)``/``<path>.rename(x)`` call with one argument (``str.replace`` takes two).
    """
    found: dict[str, int] = {}
    for module, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        count = 0
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            attr = node.func.attr
            if (owner == "os" and attr in ("replace", "rename")) or \
                    (owner == "tempfile" and attr in ("mkstemp", "NamedTemporaryFile")) or \
                    (attr in ("replace", "rename") and owner not in ("os", "dataclasses")
                     and len(node.args) == 1 and not node.keywords):
                count += 1
        if count:
            found[module] = count
    return found


def test_exactly_one_module_renames_temp_files_into_place():
    found = hand_written_atomic_writes()
    assert ATOMIC_WRITER in found, "the finder no longer sees cnnviz.fileio's own os.replace"
    others = {m: n for m, n in found.items() if m != ATOMIC_WRITER}
    new = {m: n for m, n in others.items() if n > HAND_WRITTEN_ATOMIC_TO_CONVERT.get(m, 0)}
    assert not new, f"write files through cnnviz.fileio (atomic_path, atomic_writer, write_json, save_keras): {new}"
    done = {m: n for m, n in HAND_WRITTEN_ATOMIC_TO_CONVERT.items() if others.get(m, 0) < n}
    assert not done, f"converted: lower or remove these in HAND_WRITTEN_ATOMIC_TO_CONVERT: {done}"


def test_literal_run_ids_belong_to_one_test_file():
    """Tests of one worker share a cache (conftest), so a run id written by two test files collides
    when pytest-xdist puts both files on one worker: one file's finished run shows in the other's list."""
    import re

    pattern = re.compile(r'"(\d{8}-\d{6}-[a-z0-9-]+-[0-9a-z]{6})"')
    seen: dict[str, set[str]] = {}
    for path in (ROOT / "tests").glob("test_*.py"):
        for run_id in pattern.findall(path.read_text(encoding="utf-8")):
            seen.setdefault(run_id, set()).add(path.name)
    shared = {run_id: sorted(files) for run_id, files in seen.items() if len(files) > 1}
    assert seen and not shared, shared
