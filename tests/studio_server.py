"""A workbench on a free loopback port, over a copy of the project, for the browser tests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import uvicorn

from engine import synth
from engine.studio.app import create_studio_app
from engine.studio.workbench import StudioSettings
from tests.factories import project_copy
from tests.served import free_port

ROOT = Path(__file__).resolve().parent.parent


def studio_home(folder: Path) -> Path:
    """rules/, models/ and policies/ copied into ``folder/home``."""
    return project_copy(folder / "home")


def population(folder: Path, n: int = 3000, seed: int = 5) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "customers.csv"
    synth.generate(n, seed).drop(columns=["default_12m"]).to_csv(path, index=False)
    return path




class Running:
    """uvicorn serving the workbench in a thread until ``stop``."""

    def __init__(self, settings: StudioSettings) -> None:
        self.port = free_port()
        self.app = create_studio_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the workbench did not start within 30 s")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/studio"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
