"""Where landing files are: a local folder, or an object-store prefix (``s3://bucket/landing``).

Both list their files with a size and a modification time, and hand out a local path to read one from.
An object store's files are read from a local mirror: an object is complete once it is visible and is
never appended to, so its copy is downloaded once (again only if the object is replaced: another size or
time) and carries the object's modification time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import fsspec

from eval_pipelines.parsing.files import is_landing_file

# Listings are never cached: other processes (a Collector, the receiver) add files all the time.
OBJECT_STORE_OPTIONS = {"s3": {"use_listings_cache": False}}


@dataclass(frozen=True)
class Listed:
    relative: str
    size: int
    mtime_ns: int


class LandingFiles(Protocol):
    location: str
    local_folder: Path
    growing: bool
    """True where a writer may still be appending to a listed file (a folder); objects are whole."""

    def listing(self) -> list[Listed]: ...

    def local_path(self, listed: Listed) -> Path: ...


class FolderLanding:
    growing = True

    def __init__(self, folder: Path) -> None:
        self.local_folder = folder
        self.location = str(folder)

    def listing(self) -> list[Listed]:
        if not self.local_folder.exists():
            return []
        listed = []
        for path in sorted(self.local_folder.rglob("*")):
            with contextlib.suppress(FileNotFoundError):  # renamed or deleted since the folder was read
                if path.is_file() and is_landing_file(path):
                    stat = path.stat()
                    listed.append(Listed(path.relative_to(self.local_folder).as_posix(), stat.st_size,
                                         stat.st_mtime_ns))
        return listed

    def local_path(self, listed: Listed) -> Path:
        return self.local_folder / listed.relative


def _modified_ns(info: dict[str, Any]) -> int:
    modified = info.get("LastModified", info.get("mtime", info.get("last_modified")))
    if isinstance(modified, datetime):
        return int(modified.timestamp() * 1_000_000_000)
    return int(float(modified or 0) * 1_000_000_000)


class ObjectStoreFolder:
    """The files under an object-store prefix that ``accept`` takes, read through a local mirror."""

    growing = False

    def __init__(self, url: str, mirror: Path, accept: Callable[[Path], bool] = lambda _: True) -> None:
        self.location, self.local_folder, self._accept = url, mirror, accept
        self.fs, self.root = fsspec.core.url_to_fs(url, **OBJECT_STORE_OPTIONS.get(fsspec.utils.get_protocol(url), {}))

    def listing(self) -> list[Listed]:
        if not self.fs.exists(self.root):
            return []
        listed = []
        for path, info in sorted(self.fs.find(self.root, detail=True).items()):
            relative = path[len(self.root.rstrip("/")) + 1:]
            if info.get("type", "file") == "file" and self._accept(Path(relative)):
                listed.append(Listed(relative, int(info["size"]), _modified_ns(info)))
        return listed

    def local_path(self, listed: Listed) -> Path:
        """The mirror's copy of ``listed``, downloaded unless the copy has the same size and time."""
        local = self.local_folder / listed.relative
        with contextlib.suppress(FileNotFoundError):
            stat = local.stat()
            if (stat.st_size, stat.st_mtime_ns) == (listed.size, listed.mtime_ns):
                return local
        local.parent.mkdir(parents=True, exist_ok=True)
        temporary = local.with_name(f".{local.name}.download-{os.getpid()}")
        self.fs.get_file(self.url_of(listed.relative), str(temporary))
        os.utime(temporary, ns=(listed.mtime_ns, listed.mtime_ns))
        os.replace(temporary, local)
        return local

    def url_of(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative}"


def is_object_store(location: str | Path) -> bool:
    """An fsspec URL of anything but the local file system."""
    return bool(str(location)) and fsspec.utils.get_protocol(str(location)) not in ("file", "local")


def landing_files(location: str | Path, mirror: Path) -> LandingFiles:
    """The landing files at ``location``: a folder, or an fsspec URL read through the folder ``mirror``."""
    if is_object_store(location):
        return ObjectStoreFolder(str(location), mirror, is_landing_file)
    return FolderLanding(Path(location))
