"""The transport when no SMTP relay is configured: each message as an ``.eml`` file.

A newcomer can open ``mail/<message-id>.eml`` in any mail client and see exactly what would have
been sent. The file name is the Message-ID, and the file is written to a temporary name, synced,
then linked into place (never overwritten), so a crash leaves either no file or the whole file,
and delivering the same message twice leaves one file: the folder is idempotent per Message-ID,
which also settles an ``unknown`` outcome by itself (:meth:`Folder.has`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from engine.delivery.classify import Outcome
from engine.delivery.message import file_name


class Folder:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, data: bytes, message_id: str | None, fallback: str) -> Outcome:
        name = file_name(message_id, fallback)
        target = self.path / name
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if target.exists():
                return Outcome("sent", "already in the mail folder", relay_id=name)
            handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=self.path)
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                try:
                    os.link(temporary, target)  # never replaces: the first copy wins
                except FileExistsError:
                    pass
            finally:
                os.unlink(temporary)
        except OSError as error:
            return Outcome("deferred", f"cannot write to the mail folder {self.path}: {error}")
        return Outcome("sent", "written to the mail folder", relay_id=name)

    def has(self, message_id: str) -> bool:
        return (self.path / file_name(message_id, "-")).exists()
