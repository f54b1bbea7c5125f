"""File operations seam: every syscall that changes the data directory goes through `FileOps`.

Tests subclass it to make one operation fail for one path (a full disk, a failing fsync) without
touching the real filesystem, the way QuestDB's FilesFacade is used.
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from hyena.errors import DiskFullError, StorageError

__all__ = ["FileOps", "SPACE_ERRNOS"]

SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def _storage_error(exc: OSError, action: str, path: str | Path) -> StorageError:
    if exc.errno in SPACE_ERRNOS:
        return DiskFullError(f"no space left while trying to {action}", path=path,
                             errno=errno.errorcode.get(exc.errno, exc.errno))
    return StorageError(f"could not {action}: {exc.strerror or exc}", path=path,
                        errno=errno.errorcode.get(exc.errno or 0, exc.errno))


class FileOps:
    """Thin, typed wrappers over os calls that raise hyena errors naming the path."""

    def open_rw(self, path: Path, create: bool = False) -> int:
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT | os.O_EXCL if create else 0)
        try:
            return os.open(path, flags, 0o644)
        except OSError as exc:
            raise _storage_error(exc, "open file", path) from exc

    def set_size(self, fd: int, size: int, path: Path) -> None:
        """Set the file length; the new range is a hole that uses no disk until written."""
        try:
            os.ftruncate(fd, size)
        except OSError as exc:
            raise _storage_error(exc, "set file size", path) from exc

    def allocate(self, fd: int, offset: int, length: int, path: Path) -> None:
        """Reserve disk blocks so that later writes cannot fail for lack of space."""
        if length <= 0:
            return
        try:
            os.posix_fallocate(fd, offset, length)
        except OSError as exc:
            raise _storage_error(exc, "allocate disk space", path) from exc

    def pwrite(self, fd: int, data: memoryview | bytes, offset: int, path: Path) -> None:
        view = memoryview(data).cast("B")
        try:
            while view:
                written = os.pwrite(fd, view, offset)
                view = view[written:]
                offset += written
        except OSError as exc:
            raise _storage_error(exc, "write", path) from exc

    def pread(self, fd: int, length: int, offset: int, path: Path) -> bytes:
        try:
            return os.pread(fd, length, offset)
        except OSError as exc:
            raise _storage_error(exc, "read", path) from exc

    def fdatasync(self, fd: int, path: Path) -> None:
        try:
            os.fdatasync(fd)
        except OSError as exc:
            raise _storage_error(exc, "sync file data", path) from exc

    def fsync(self, fd: int, path: Path) -> None:
        try:
            os.fsync(fd)
        except OSError as exc:
            raise _storage_error(exc, "sync file", path) from exc

    def drop_cache(self, fd: int) -> None:
        """Ask the kernel to drop clean cached pages of a sealed file (advice; never fails)."""
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass

    def close(self, fd: int) -> None:
        try:
            os.close(fd)
        except OSError:
            pass

    def write_file(self, path: Path, data: bytes) -> None:
        """Create `path` (truncating) with `data` and fsync it; used for temp files."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _storage_error(exc, "create file", path) from exc
        try:
            self.pwrite(fd, data, 0, path)
            self.fsync(fd, path)
        finally:
            os.close(fd)

    def read_file(self, path: Path) -> bytes:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _storage_error(exc, "read file", path) from exc

    def rename(self, src: Path, dst: Path) -> None:
        try:
            os.rename(src, dst)
        except OSError as exc:
            raise _storage_error(exc, "rename", dst) from exc

    def fsync_dir(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise _storage_error(exc, "open directory", path) from exc
        try:
            os.fsync(fd)
        except OSError as exc:
            raise _storage_error(exc, "sync directory", path) from exc
        finally:
            os.close(fd)

    def make_dirs(self, path: Path) -> list[Path]:
        """Create `path` and missing parents; return the parents whose entries changed (to fsync)."""
        missing: list[Path] = []
        probe = path
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for directory in reversed(missing):
            try:
                os.mkdir(directory, 0o755)
            except FileExistsError:
                pass
            except OSError as exc:
                raise _storage_error(exc, "create directory", directory) from exc
        return [d.parent for d in missing]

    def remove_tree(self, path: Path) -> None:
        """Remove a directory tree (an abandoned partition); missing paths are fine."""
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _storage_error(exc, "remove directory", path) from exc

    def unlink(self, path: Path) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _storage_error(exc, "remove file", path) from exc
