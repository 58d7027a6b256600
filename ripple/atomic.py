"""Write files and folders so that a reader sees all of them or none of them.

Everything is written under a temporary name beside its target and renamed into place
when complete; an interruption leaves at most a dot-named temporary, never a half-file.
A temporary's name holds the writer's process id, so the next write into the same folder
removes those whose writer is gone (killed with SIGKILL, or the power cut).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


OWNED = re.compile(r"^\..+-p(\d+)@([^/-]*)-[^/]*\.tmp$")  # .NAME-p<pid>@<host>-XXXX.tmp
OLDER = re.compile(r"^\..+-[a-z0-9_]{8}\.tmp$")  # what an older Ripple named them (tempfile's 8 letters)
UNOWNED_AGE_S = 24 * 3600  # such a temporary is stale after a day


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's live process
    return True


def _host() -> str:
    import socket

    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:40] or "host"


def sweep_stale(folder: Path, prefix: str = ".") -> int:
    """Remove the temporaries under `folder` (names starting with `prefix`, ending .tmp) that
    a writer of this machine left and that writer has died, or that an older Ripple left a
    day ago. Another machine's (a shared disk) are never judged. Returns how many."""
    import time

    removed = 0
    try:
        entries = [p for p in Path(folder).iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")]
    except OSError:
        return 0
    for path in entries:
        owned = OWNED.match(path.name)
        try:
            if owned:
                stale = owned.group(2) == _host() and not _alive(int(owned.group(1)))
            else:
                stale = bool(OLDER.match(path.name)) and time.time() - path.lstat().st_mtime > UNOWNED_AGE_S
            if not stale:
                continue
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def temp_prefix(name: str) -> str:
    return f".{name}-p{os.getpid()}@{_host()}-"


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder that becomes `target` when the block succeeds.

    If `target` appeared meanwhile (another process built the same thing), theirs stays.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target.parent)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=temp_prefix(target.name), suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp made it private
        if not target.exists():
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it private; give it an ordinary file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def replace_folder(new: Path, final: Path, aside: str | None = None) -> None:
    """Put the folder `new` at `final` by renames: an older `final` is moved aside first (to
    `aside`, a name beside it) and removed after, so a reader sees the old folder or the new
    one. A writer killed in between leaves a temporary the next write sweeps away."""
    new, final = Path(new), Path(final)
    old = None
    if final.exists():
        old = final.parent / (aside or f"{temp_prefix(final.name)}old.tmp")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    try:
        os.replace(new, final)
    except BaseException:
        if old is not None and not final.exists():
            os.replace(old, final)  # the old folder back where it was: nothing lost
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def save_replacing(target: Path, save) -> None:
    """`save(folder)` into a temporary folder that then takes `target`'s place whole:
    readers see the old folder (a model, a report) or the new one, never half of one."""
    from ripple.errors import InputError

    target = Path(target)
    if target.exists() and not target.is_dir():
        raise InputError(str(target), "exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target.parent)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=temp_prefix(target.name), suffix=".tmp"))
    try:
        save(tmp)
        os.chmod(tmp, 0o777 & ~_umask())
        replace_folder(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
