"""Where everything lives: the layout of ``EVAL_PIPELINES_HOME``.

Domain code and the Dagster layer both resolve folders through :class:`Home`, so the layout is
defined once. The default home is ``.eval_pipelines_home`` in the project folder (git-ignored).
The lake is ``<home>/warehouse`` unless ``EVAL_PIPELINES_LAKE`` names another folder or an object store
URL (``s3://bucket/lake``); the landing files are in ``<home>/landing`` unless ``EVAL_PIPELINES_LANDING``
names another folder or URL; labels, canary items, offline results, golden sets and reports are in
``<home>/<name>`` unless ``EVAL_PIPELINES_SHARED`` is an object-store URL (``shared(name)``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from eval_pipelines.landing_stores import is_object_store
from eval_pipelines.shared_files import SharedFolder

HOME_ENV_VAR = "EVAL_PIPELINES_HOME"
LAKE_ENV_VAR = "EVAL_PIPELINES_LAKE"
LANDING_ENV_VAR = "EVAL_PIPELINES_LANDING"
SHARED_ENV_VAR = "EVAL_PIPELINES_SHARED"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = PROJECT_ROOT / ".eval_pipelines_home"


@dataclass(frozen=True)
class Home:
    root: Path
    lake_url: str = ""
    landing_url: str = ""
    shared_url: str = ""

    @classmethod
    def from_env(cls) -> Home:
        return cls(Path(os.environ.get(HOME_ENV_VAR) or DEFAULT_HOME).expanduser().resolve(),
                   os.environ.get(LAKE_ENV_VAR, ""), os.environ.get(LANDING_ENV_VAR, ""),
                   os.environ.get(SHARED_ENV_VAR, ""))

    def shared(self, name: str) -> SharedFolder:
        """``labels``, ``canary``, ``offline``, ``golden`` or ``reports``: ``<home>/<name>``, or under
        ``EVAL_PIPELINES_SHARED`` read through ``<home>/shared-mirror/<name>``."""
        remote = is_object_store(self.shared_url)
        location = f"{self.shared_url.rstrip('/')}/{name}" if remote else str(self.root / name)
        return SharedFolder(location, self.root / "shared-mirror" / name, remote)

    @property
    def landing(self) -> Path:
        """The local landing folder (the default landing, and where the demo writes)."""
        return self.root / "landing"

    @property
    def landing_location(self) -> str:
        """Where landing files are read from and the receiver writes: a folder, or an fsspec URL."""
        return self.landing_url or str(self.landing)

    @property
    def landing_mirror(self) -> Path:
        """Local copies of an object store's landing files (a cache: safe to delete)."""
        return self.root / "landing-mirror"

    @property
    def landing_index_location(self) -> str:
        """Index entries of the landing files: with the lake when it is in an object store, so that every
        machine sees them without a shared volume."""
        return f"{self.lake_url.rstrip('/')}/_state/landing-index" if is_object_store(self.lake_url) else str(
            self.landing_index)

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def lake(self) -> str:
        """The lake's root: a folder, or an fsspec URL of an object store."""
        return self.lake_url or str(self.warehouse)

    @property
    def landing_index(self) -> Path:
        return self.root / "index" / "landing"

    @property
    def staging(self) -> Path:
        """Each landing file's parsed records, so a file is parsed once (a cache: safe to delete)."""
        return self.root / "staging"

    @property
    def receiver_spool(self) -> Path:
        """Requests the receiver acknowledged, until they are in a landing file (it must survive a restart)."""
        return self.root / "receiver" / "spool"

    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def canary(self) -> Path:
        return self.root / "canary"

    @property
    def offline(self) -> Path:
        return self.root / "offline"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def evidently(self) -> Path:
        """The local Evidently workspace (``make dashboard`` serves it)."""
        return self.root / "evidently"

    @property
    def golden(self) -> Path:
        return self.root / "golden"

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    def ensure(self) -> Home:
        for folder in (self.landing, self.landing_index, self.labels, self.canary, self.offline,
                       self.reports, self.golden, self.dagster):
            folder.mkdir(parents=True, exist_ok=True)
        return self
