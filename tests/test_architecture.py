"""The layout's rules (docs/architecture.md), checked over the package's source with `ast`, and what a
spawned DataLoader worker imports."""

from __future__ import annotations

import ast
import functools
import json
from pathlib import Path

import pytest
from spawn_probe import record_imports
from torch.utils.data import DataLoader

from lerobot_multi import MultiLeRobotDataset

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lerobot_multi"
# a role may import the roles listed, and always compat, the top-level helper modules and itself
MAY_IMPORT = {
    "meta": set(),
    "read": {"meta"},
    "mix": {"meta", "read"},
    "stream": {"meta", "read"},  # the shares are meta/mixing.py
    "deploy": {"meta"},
    "inspect": {"meta", "mix"},
    "train": {"meta", "read", "mix", "stream", "deploy", "inspect", "factory"},
}
ROLES = set(MAY_IMPORT)
# lerobot modules whose names moved between 0.4.4 and 0.6: only compat.py imports them
MOVED = (
    "lerobot.processor.core",
    "lerobot.lerobot_types",
    "lerobot.utils.train_utils",
    "lerobot.common",
    "lerobot.datasets.transforms",
    "lerobot.transforms",
    "lerobot.datasets.utils",
    "lerobot.datasets.feature_utils",
    "lerobot.datasets.io_utils",
    "lerobot.utils.feature_utils",
    "lerobot.datasets.multi_dataset",
)


def modules() -> list[tuple[str, Path]]:
    return [
        (".".join(p.relative_to(PACKAGE).with_suffix("").parts), p) for p in sorted(PACKAGE.rglob("*.py"))
    ]


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in a file, function-level ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
    return out


def role(module: str) -> str | None:
    head = module.split(".")[0]
    return head if head in ROLES else None


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_imports_follow_the_flow(name, path):
    own = role(name)
    for module, names in imports(path):
        if not module.startswith("lerobot_multi."):
            continue
        target = module.removeprefix("lerobot_multi.")
        other = role(target)
        if own is not None and other is not None and other != own:
            assert other in MAY_IMPORT[own], f"{name} ({own}/) imports {module} ({other}/)"
        if own is not None and other is None:
            assert target in ("compat", "factory") or own == "train", f"{name} imports top-level {module}"
        private = [n for n in names if n.startswith("_")]
        assert not private, f"{name} imports private names {private} from {module}"


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_lerobot_names_that_moved_come_from_compat(name, path):
    for module, _ in imports(path):
        if name != "compat":
            assert not module.startswith(MOVED), (
                f"{name} imports {module}: import it from lerobot_multi.compat"
            )
        if module == "lerobot.scripts" or module.startswith("lerobot.scripts.lerobot_train"):
            assert role(name) == "train", f"{name} imports lerobot's training script outside train/"


def test_modules_stay_small():
    sizes = {m: len(p.read_text().splitlines()) for m, p in modules()}
    assert {m: n for m, n in sizes.items() if n > 400} == {}


def test_a_spawned_worker_imports_no_lerobot_training_stack(data_root, tmp_path):
    """A spawned DataLoader worker of a fast-reader mixture unpickles it and reads with torch, numpy and
    pyarrow only: lerobot's processor, config and dataset packages (seconds of imports each time a
    worker starts) stay out. Importing lerobot_multi.normalize there still registers the 0.1.0 names."""
    ds = MultiLeRobotDataset(["lab/arm_small", "lab/arm_big"], root=data_root)
    init = functools.partial(record_imports, str(tmp_path))
    loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="spawn", worker_init_fn=init)
    assert next(iter(loader))["action"].shape[0] == 4
    reports = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
    assert reports == [[[], True], [[], True]]


# where the lerobot line may be asked about (compat) or picked (the seam's table of lines)
LINE_AWARE = {"compat", "train.seam"}
# hasattr on names that are not lerobot fields: Python protocols and the OS
PLAIN_HASATTR = {"__iter__", "sched_getaffinity"}


def _line_probes(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            if names & {"LEROBOT_VERSION", "Version"}:
                found.append(f"line {node.lineno}: compares lerobot versions")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) >= 2:
            literal = isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
            if node.func.id == "getattr" and literal and len(node.args) == 3:
                found.append(f"line {node.lineno}: getattr(..., {node.args[1].value!r}, default)")
            if node.func.id == "hasattr" and literal and node.args[1].value not in PLAIN_HASATTR:
                found.append(f"line {node.lineno}: hasattr(..., {node.args[1].value!r})")
        if isinstance(node, ast.ImportFrom) and node.module in ("packaging.version", "importlib.metadata"):
            found.append(f"line {node.lineno}: imports {node.module}")
    return found


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_the_lerobot_line_is_data(name, path):
    """Outside compat and the seam nothing compares lerobot versions or probes objects for fields that
    one line has: they read `compat.LINE` (docs/lerobot-lines.md)."""
    if name in LINE_AWARE:
        return
    assert _line_probes(ast.parse(path.read_text())) == [], f"{name}: ask compat.LINE instead"


def test_functions_stay_short():
    """No function or method over 60 lines (docstring included)."""
    long = {}
    for name, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    long[f"{name}.{node.name}"] = length
    assert long == {}
