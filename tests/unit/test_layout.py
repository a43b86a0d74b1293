"""The direction between domains, checked by walking every import in bot/ (ast): no two domains import each
other, the domains' imports form no cycle, no domain imports another's store (records come from its models.py,
what else it may use of it from its other modules), and no shared module imports a domain. Only the composition
root (bot/app.py, bot/__main__.py) imports them all. README's layout section draws the result."""

from __future__ import annotations

import ast
import itertools
import re
from collections import defaultdict
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"
ROOT = {"bot.app", "bot.__main__"}
# Where SQL may be written besides a store module: the platform's own tables (the pool's ping, the job runner's
# job_runs and job_schedules, the audit log, the schema migrations).
SQL_OUTSIDE_STORES = {"bot.db", "bot.jobs", "bot.audit", "bot.migrate"}
SQL = re.compile(r"\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|WITH\s+\w+\s+AS)\b", re.IGNORECASE)


def _domains() -> set[str]:
    from bot.app import DOMAINS

    return {d.name for d in DOMAINS}


def _module(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every bot.* module `path` imports (a `from bot.x import y` counts as bot.x.y when y is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bot.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (BOT.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    BOT.parent / Path(*candidate.split("."))
                ).is_dir()
                found.add(candidate if is_module else node.module)
    return found


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Domain -> the domains it imports; (module, store) pairs crossing domains; (shared module, domain module)."""
    domains = _domains()
    edges: dict[str, set[str]] = defaultdict(set)
    stores, upward = [], []
    for path in sorted(BOT.rglob("*.py")):
        module = _module(path)
        parts = module.split(".")
        source = parts[1] if len(parts) > 2 and parts[1] in domains else None
        for target in _imports(path):
            tparts = target.split(".")
            if len(tparts) < 2 or tparts[1] not in domains or tparts[1] == source:
                continue
            if source is None:
                if module not in ROOT:
                    upward.append((module, target))
                continue
            edges[source].add(tparts[1])
            if tparts[2:3] == ["store"]:
                stores.append((module, target))
    return edges, stores, upward


def test_no_two_domains_import_each_other() -> None:
    edges, _, _ = _graph()
    both = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, set())})
    assert both == []


def test_the_domains_imports_form_no_cycle() -> None:
    edges, _, _ = _graph()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for start in sorted(edges):
        visit(start, [])


def test_no_domain_imports_another_domains_store() -> None:
    _, stores, _ = _graph()
    assert stores == []


def test_no_shared_module_imports_a_domain() -> None:
    _, _, upward = _graph()
    assert upward == []


def _sql(path: Path) -> list[int]:
    """The lines of `path` where a string constant starts with a statement."""
    tree = ast.parse(path.read_text())
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return sorted(n.lineno for n in found if SQL.match(n.value))


def test_sql_only_in_store_modules() -> None:
    """Every SQL string in a domain's (or slack/'s) store.py, or in the platform's own modules."""
    outside = [
        f"{_module(path)}:{line}"
        for path in sorted(BOT.rglob("*.py"))
        if path.name != "store.py" and _module(path) not in SQL_OUTSIDE_STORES
        for line in _sql(path)
    ]
    assert outside == []
    assert _sql(BOT / "slack" / "store.py")  # the check finds SQL at all


def test_the_check_sees_what_it_checks() -> None:
    """The walk finds imports at all (a check that found none would pass on anything)."""
    edges, _, _ = _graph()
    assert "incidents" in edges.get("alerts", set())
    assert len(list(itertools.chain.from_iterable(edges.values()))) >= 5
