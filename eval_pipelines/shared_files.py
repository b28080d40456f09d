"""The folders people read and write as files: reviewers' label files, canary items, offline results, golden
sets and the HTML reports. Under the home folder by default; under ``EVAL_PIPELINES_SHARED`` when that is an
object-store URL (``s3://bucket/shared``), so that a deployment needs no shared volume.

A folder is read through a local mirror (each object downloaded once, again only when it changes; copies of
deleted objects are removed), and a file written into the mirror is published by uploading it whole.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from eval_pipelines.landing_stores import ObjectStoreFolder


class SharedFolder:
    def __init__(self, location: str, mirror: Path, remote: bool) -> None:
        self.location = location
        self._store = ObjectStoreFolder(location, mirror) if remote else None
        self._folder = mirror if remote else Path(location)

    def local(self) -> Path:
        """The folder as it is now, on this machine."""
        self._folder.mkdir(parents=True, exist_ok=True)
        if self._store is None:
            return self._folder
        listed = self._store.listing()
        kept = {self._store.local_path(entry) for entry in listed}
        for path in self._folder.rglob("*"):
            if path.is_file() and path not in kept:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        return self._folder

    def target(self, relative: str) -> Path:
        """Where to write a file that :meth:`publish` then makes part of the folder."""
        path = self._folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def url(self, path: Path) -> str:
        """Where ``path`` (a file of :meth:`local`) is, for people: a ``file://`` or object-store URL."""
        if self._store is None:
            return path.as_uri()
        return self._store.fs.unstrip_protocol(self._store.url_of(path.relative_to(self._folder).as_posix()))

    def publish(self, path: Path) -> str:
        """Make ``path`` (written under :meth:`target` or :meth:`local`) part of the folder; its URL."""
        if self._store is not None:
            self._store.fs.put_file(str(path), self._store.url_of(path.relative_to(self._folder).as_posix()))
        return self.url(path)
