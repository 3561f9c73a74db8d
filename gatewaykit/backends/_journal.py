"""The sandbox's journal: what clients changed, so a sandbox restarted on its work dir has it back.

One record per committed change, appended and fsync'd *before* the change is committed to the
store: a change is either in the journal and the store, or in neither. Each record is one line,
``<length> <crc32> <json>``; a record cut short by a kill (or otherwise damaged) fails its length
or checksum, is dropped with a note, and never stops the sandbox from starting.

When the journal grows past :data:`COMPACT_AFTER` records it is rewritten as one record holding the
whole state, into a new file that replaces the old one atomically (write, fsync, rename).

The journal holds Secrets (private keys): its directory is 0700 and the file 0600.
"""

from __future__ import annotations

import json
import os
import pathlib
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gatewaykit.resources.meta import ResourceKey, Source
from gatewaykit.store import StoredObject

__all__ = ["COMPACT_AFTER", "Journal", "Replayed"]

COMPACT_AFTER = 500


@dataclass(slots=True)
class Replayed:
    """What a journal read gives back."""

    objects: dict[ResourceKey, StoredObject] = field(default_factory=dict)
    deleted: set[ResourceKey] = field(default_factory=set)
    resource_version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    records: int = 0


def _entry_json(e: StoredObject) -> dict[str, Any]:
    return {
        "key": [e.key.kind, e.key.namespace, e.key.name],
        "raw": e.raw,
        "file": e.source.file,
        "doc": e.source.index,
        "line": e.source.line,
        "creation": e.creation_index,
    }


def _entry(d: dict[str, Any]) -> StoredObject:
    key = ResourceKey(*d["key"])
    return StoredObject(
        key, d["raw"], Source(d.get("file", "STDIN"), d.get("doc", 0), d.get("line", 1)), int(d["creation"])
    )


def _encode(record: dict[str, Any]) -> bytes:
    body = json.dumps(record, separators=(",", ":"), default=str).encode()
    return b"%d %08x " % (len(body), zlib.crc32(body)) + body + b"\n"


def _decode(lines: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any] | None, bytes]]:
    for n, line in enumerate(lines, 1):
        head, _, rest = line.partition(b" ")
        crc, _, body = rest.partition(b" ")
        body = body.rstrip(b"\n")
        try:
            ok = int(head) == len(body) and int(crc, 16) == zlib.crc32(body)
            yield n, (json.loads(body) if ok else None), line
        except ValueError:
            yield n, None, line


class Journal:
    """The append-only journal at ``directory/journal.log``."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self.path = directory / "journal.log"
        self._records = 0

    def _open_dir(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    def read(self) -> Replayed:
        """Replay the journal; damaged records are dropped and described in ``dropped``."""
        out = Replayed()
        if not self.path.exists():
            return out
        for n, record, raw in _decode(self.path.read_bytes().splitlines(keepends=True)):
            if record is None:
                out.dropped.append(
                    f"{self.path.name} record {n} ({len(raw)} bytes): damaged or cut short, dropped"
                )
                continue
            self._replay(out, record)
            out.records += 1
        self._records = out.records
        return out

    @staticmethod
    def _replay(out: Replayed, record: dict[str, Any]) -> None:
        if record.get("full"):
            out.objects.clear()
            out.deleted = set(ResourceKey(*k) for k in record.get("absent", ()))
        for d in record.get("put", ()):
            e = _entry(d)
            out.objects[e.key] = e
            out.deleted.discard(e.key)
        for k in record.get("del", ()):
            key = ResourceKey(*k)
            out.objects.pop(key, None)
            out.deleted.add(key)
        out.resource_version = max(out.resource_version, int(record.get("rv", 0)))
        out.extra.update(record.get("extra", {}))

    def append(
        self,
        puts: Iterable[StoredObject],
        deletes: Iterable[ResourceKey],
        *,
        resource_version: int,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Write one record durably (fsync) before the change it describes is committed."""
        record: dict[str, Any] = {
            "rv": resource_version,
            "put": [_entry_json(e) for e in puts],
            "del": [[k.kind, k.namespace, k.name] for k in deletes],
        }
        if extra:
            record["extra"] = extra
        if not record["put"] and not record["del"] and not extra:
            return
        self._open_dir()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that already exists
            os.write(fd, _encode(record))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._records += 1

    @property
    def needs_compaction(self) -> bool:
        """Whether :meth:`compact` is due."""
        return self._records > COMPACT_AFTER

    def compact(
        self,
        objects: Iterable[StoredObject],
        absent: Iterable[ResourceKey],
        *,
        resource_version: int,
        extra: dict[str, Any],
    ) -> None:
        """Replace the journal by one record holding the whole state (write, fsync, rename).

        ``absent`` are keys of objects the sandbox makes at start that clients deleted.
        """
        self._open_dir()
        tmp = self.path.with_suffix(".tmp")
        record = {
            "full": True,
            "rv": resource_version,
            "put": [_entry_json(e) for e in objects],
            "del": [],
            "absent": [[k.kind, k.namespace, k.name] for k in absent],
            "extra": extra,
        }
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, _encode(record))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._records = 1
