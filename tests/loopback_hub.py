"""A Hugging Face Hub-compatible server on 127.0.0.1 for tests: olah (its own venv, `make hub-venv`)
serving git repositories laid out as the hub stores them (files at the root, branch `main`, a
codebase-version tag), behind `hub_proxy.HubProxy`. No test touches the internet.

`publish(folder, repo_id, tag)` makes a dataset folder written by lerobot's writer a hub repo; a
second publish of the same id commits on top and moves the tag (a dataset updated on the hub).
`client_env(home)` is the environment a client process needs to use it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from hub_proxy import HubProxy

REPO_ROOT = Path(__file__).resolve().parents[1]
OLAH = Path(os.environ.get("LEROBOT_MULTI_OLAH", REPO_ROOT / ".venv-hub" / "bin" / "olah-cli"))
START_TIMEOUT_S = 30
GIT = ["git", "-c", "user.email=hub@loopback", "-c", "user.name=loopback-hub"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackHub:
    """olah + proxy, started in `start()`, stopped in `stop()`; `proxy` counts and injects faults."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir).resolve()
        self.mirrors = self.workdir / "mirrors"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.proxy: HubProxy | None = None

    @property
    def endpoint(self) -> str:
        return self.proxy.endpoint

    def start(self) -> LoopbackHub:
        (self.mirrors / "datasets").mkdir(parents=True, exist_ok=True)
        (self.mirrors / "models").mkdir(parents=True, exist_ok=True)
        config = self.workdir / "olah.toml"
        config.write_text(
            "[basic]\n"
            f'host = "127.0.0.1"\nport = {self.port}\n'
            f'repos-path = "{self.workdir / "repos"}"\nmirrors-path = ["{self.mirrors}"]\n'
            f'mirror-netloc = "127.0.0.1:{self.port}"\nmirror-lfs-netloc = "127.0.0.1:{self.port}"\n'
            "[accessibility]\noffline = true\n"
        )
        log = open(self.workdir / "olah.log", "wb")  # noqa: SIM115 (kept open for the process)
        self.process = subprocess.Popen(
            [str(OLAH), "-c", str(config)], stdout=log, stderr=log, cwd=self.workdir
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"olah did not start: {(self.workdir / 'olah.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)
        self.proxy = HubProxy(self.port).start()
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def publish(
        self, folder: Path, repo_id: str, tag: str = "v3.0", readme: bool = True, repo_type: str = "datasets"
    ) -> str:
        """Commit `folder`'s files as repo `repo_id` (branch main, `tag` moved to the new commit);
        returns the commit SHA. `repo_type` "models" publishes a model repo."""
        repo = self.mirrors / repo_type / repo_id
        fresh = not (repo / ".git").is_dir()
        if fresh:
            repo.mkdir(parents=True)
            subprocess.run([*GIT, "init", "-q", "-b", "main"], cwd=repo, check=True)
        for item in repo.iterdir():
            if item.name != ".git":
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        shutil.copytree(folder, repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".cache"))
        if readme:  # `datasets` streaming looks for it; lerobot's writer writes none
            (repo / "README.md").write_text(f"---\nlicense: apache-2.0\n---\n# {repo_id}\n")
        subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
        subprocess.run([*GIT, "commit", "-q", "-m", f"publish {repo_id}"], cwd=repo, check=True)
        subprocess.run([*GIT, "tag", "-f", tag], cwd=repo, check=True, capture_output=True)
        return subprocess.run(
            [*GIT, "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
        ).stdout.strip()

    def client_env(self, home: Path, offline: bool = False) -> dict[str, str]:
        """A client process's environment: this hub, no Xet, lerobot's and HF's caches under `home`."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update(
            HF_ENDPOINT=self.endpoint,
            HF_HUB_DISABLE_XET="1",
            HF_HOME=str(home / "hf"),
            HF_LEROBOT_HOME=str(home / "lerobot"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_ETAG_TIMEOUT="10",
            HF_HUB_DOWNLOAD_TIMEOUT="10",
        )
        if offline:
            env["HF_HUB_OFFLINE"] = "1"
        return env
