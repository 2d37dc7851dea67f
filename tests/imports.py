"""What a source file imports, read from its syntax tree: nothing is executed, so an import
inside a function (imported lazily) counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The repository's folders are installed as one namespace (pyproject.toml).
NAMESPACE = "rft_env"


def module_of(path: Path) -> str:
    """`components/bedrock/api.py` -> `rft_env.components.bedrock.api`."""
    parts = path.resolve().relative_to(REPO).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((NAMESPACE, *parts))


def imported_names(source: str, module: str) -> set[str]:
    """Every dotted name `source` (the code of `module`) imports: `a.b` for `import a.b`,
    `a.b` for `from a import b` (which may be the module `a.b` or a name in `a`). Relative
    imports are resolved against `module`'s package."""
    package = module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            names.update(f"{origin}.{alias.name}" for alias in node.names)
    return names


def imports_of(path: Path) -> set[str]:
    return imported_names(path.read_text(encoding="utf-8"), module_of(path))


def is_within(name: str, module: str) -> bool:
    """Whether `name` is `module` or something inside it."""
    return name == module or name.startswith(f"{module}.")
