"""pyproject admits only the lerobot releases a CI line tests (docs/lerobot-lines.md "Which lerobot an
install gets"), and pip refuses the project beside a lerobot it does not admit rather than keep it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from lerobot_multi.compat import LEROBOT_VERSION, LINES

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RELEASED = {"0.4.4", "0.6.1"}  # the tested lines' releases; lerobot main (0.6.2) is not one yet
CANDIDATES = ["0.4.3", "0.4.4", "0.4.5", "0.5.0", "0.6.0", "0.6.1", "0.6.2", "0.7.0", "1.0.0"]


def lerobot_requirements() -> list[tuple[str, Requirement]]:
    groups = {"dependencies": PROJECT["dependencies"], **PROJECT["optional-dependencies"]}
    return [
        (group, Requirement(text))
        for group, texts in groups.items()
        for text in texts
        if Requirement(text).name == "lerobot"
    ]


def admitted(python: str) -> dict[str, set[str]]:
    """{group: the candidate versions its lerobot requirements admit on this Python}."""
    env = {"python_version": python, "python_full_version": f"{python}.0"}
    out: dict[str, set[str]] = {}
    for group, req in lerobot_requirements():
        if req.marker is None or req.marker.evaluate(env):
            out.setdefault(group, set(CANDIDATES)).intersection_update(
                v for v in CANDIDATES if req.specifier.contains(Version(v))
            )
    return out


@pytest.mark.parametrize(
    ("python", "release"), [("3.10", "0.4.4"), ("3.11", "0.4.4"), ("3.12", "0.6.1"), ("3.13", "0.6.1")]
)
def test_every_lerobot_requirement_admits_only_the_tested_release(python, release):
    groups = admitted(python)
    assert "dependencies" in groups
    assert all(versions == {release} for versions in groups.values()), groups


def test_the_pins_are_the_lines_tested_releases():
    tested = {v for line in LINES.values() for v in line.tested}
    assert (
        tested >= RELEASED
        and {v for py in ("3.11", "3.12") for v in admitted(py)["dependencies"]} == RELEASED
    )


@pytest.mark.skipif(
    str(LEROBOT_VERSION) in RELEASED, reason="the installed lerobot is a pinned release: nothing to refuse"
)
def test_pip_refuses_an_untested_lerobot(tmp_path):
    """In a venv holding lerobot main (0.6.2), installing the project asks for 0.6.1: offline pip finds
    none and refuses, naming the requirement (online it installs 0.6.1 over main)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation"]
        + ["--find-links", str(tmp_path), "--quiet", str(ROOT)],
        capture_output=True,
        text=True,
        env={"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert proc.returncode != 0, proc.stdout
    assert "lerobot" in proc.stderr and "==0.6.1" in proc.stderr, proc.stderr[-2000:]
