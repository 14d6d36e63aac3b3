"""The layers import downwards only (docs/ARCHITECTURE.md): a test walks every import."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("postdesk", "web", "workers", "actions", "mailer", "models", "servicelevels")
# The mailer's pipeline and edges sit with web/ and workers/; its other modules are leaves.
MAILER_TOP = {"mailer.pipeline", "mailer.spool", "mailer.smtp_edge", "mailer.imap_edge", "mailer.importer"}
RANK = {"models": 0, "mailer-leaf": 1, "servicelevels": 1, "actions": 2, "mailer-top": 3, "web": 3, "workers": 3,
        "postdesk": 4}
# Imports that break the rule today, each to go: the process wiring (settings, the Redis
# connection) is reached from below instead of handed down by the composition root.
KNOWN = {
    ("mailer.imap_edge", "postdesk.runtime"), ("web", "postdesk.config"), ("web", "postdesk.runtime"),
    ("web.health", "postdesk.runtime"), ("web.monitoring", "postdesk.runtime"),
    ("workers.processing", "postdesk.runtime"), ("workers.handover", "postdesk.runtime"),
    ("workers.outgoing", "postdesk.runtime"), ("workers.sweeper", "postdesk.runtime"),
    ("workers.runner", "postdesk.runtime"), ("workers.schedule", "postdesk.runtime"),
    ("workers.sla", "postdesk.runtime"), ("workers.followups", "postdesk.runtime"),
}


def layer(module: str) -> str:
    package = module.split(".")[0]
    if package == "mailer":
        return "mailer-top" if module in MAILER_TOP else "mailer-leaf"
    return package


def modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imports(module: str, path: Path):
    """Every Postdesk module this file imports, at the top or inside a function."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from . import x, from .base import y
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names = [f"{base}.{alias.name}" if base in PACKAGES else base for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield name


ALL = list(modules())


@pytest.mark.parametrize(("module", "path"), ALL, ids=[m for m, _ in ALL])
def test_no_module_imports_a_layer_above_its_own(module, path):
    upward = [name for name in imports(module, path)
              if RANK[layer(name)] > RANK[layer(module)] and (module, name) not in KNOWN]
    assert not upward, f"{module} ({layer(module)}) imports {upward} from a layer above it"


def test_models_import_nothing_else_of_postdesk():
    for module, path in ALL:
        if layer(module) == "models":
            assert all(name.startswith("models") for name in imports(module, path)), module


def test_the_sla_calculators_are_pure():
    """Explicit times in, times out: no database, no clock, nothing else of Postdesk."""
    for module, path in ALL:
        if layer(module) == "servicelevels":
            assert all(name.startswith("servicelevels") for name in imports(module, path)), module
            assert "now(" not in path.read_text(encoding="utf-8"), module


def test_the_walk_sees_imports_inside_functions():
    spool = dict(ALL)["mailer.spool"]
    assert "workers.handover" in set(imports("mailer.spool", spool))  # imported inside a function
