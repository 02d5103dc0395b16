"""Writing files: the one place that decides what a write may replace.

Every file fashionlab writes (a command's ``--out``, a run folder's config, weights,
checkpoint, figures) goes through ``atomic_write_bytes``:

* the bytes go to a temporary file beside the target, renamed over it only once they
  are all on disk: a reader, or a kill, sees the old file or the new one, never half of
  one; a write that fails (disk full, permission) removes its temporary file and leaves
  the old file as it was;
* the rename replaces only a regular file, or nothing: a device (``/dev/null``), a FIFO,
  a socket or a folder at the path is an error, and is left alone;
* a symbolic link is written through: its target gets the new content and the link stays
  (a warning says so, once per path);
* ``exclusive=True`` (``impute --out`` without ``--force``) writes only if nothing is at
  the path at the moment of the rename (a hard link, which fails if the name exists), so
  that of two processes writing the same new name, the second fails instead of replacing
  the first one's file;
* a new file gets the mode ``open()`` would give it (0644 under the usual umask); a file
  written over keeps its mode.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from fashionlab.errors import FashionlabError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() gives a new file; mkstemp alone gives 0600

_LINKS_SAID: set[Path] = set()  # the symbolic links written through, said once each
_KINDS = ((stat.S_ISDIR, "folder"), (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"),
          (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"))


def writable_target(path: str | Path) -> Path:
    """The file a write to ``path`` puts its bytes in: ``path`` itself, or the target of
    the symbolic link ``path`` (said once, as a warning). Raises a FashionlabError when
    something other than a regular file is there (a folder, a device, a FIFO)."""
    path = Path(path).expanduser()
    target = path
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if path not in _LINKS_SAID:
            _LINKS_SAID.add(path)
            warnings.warn(f"{path} is a symbolic link: writing to its target {target}",
                          stacklevel=3)
    try:
        mode = os.stat(target).st_mode
    except OSError:  # nothing there, or a folder on the way that is not one: the write says
        return target
    if stat.S_ISREG(mode):
        return target
    kind = next((name for test, name in _KINDS if test(mode)), "special file")
    if kind == "folder":
        raise FashionlabError(f"{path} is a folder; give a file name")
    raise FashionlabError(f"{path} is a {kind}, not a regular file: fashionlab writes only a "
                          "new file or over a regular one; give another file name")


def atomic_write_bytes(path: str | Path, data: bytes, exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` as the module docstring says; returns the file written
    (the link's target for a symbolic link). With ``exclusive``, a file that appeared at
    ``path`` meanwhile is an error, and is left as it is."""
    with atomic_writer(path, exclusive) as f:
        f.write(data)
    return writable_target(Path(path))


@contextmanager
def atomic_writer(path: str | Path, exclusive: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write in steps: a temporary file beside ``path`` that takes its
    name when the block ends (as ``atomic_write_bytes``), and is removed if it raises."""
    given = Path(path)
    target = writable_target(given)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, stat.S_IMODE(os.stat(target).st_mode))
        except FileNotFoundError:
            os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            _link_new(tmp, target, given)
        else:
            writable_target(target)  # still a regular file or nothing, just before the rename
            os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(given)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _link_new(tmp: str, target: Path, given: Path) -> None:
    """Give the finished temporary file the name ``target`` only if no file has it."""
    appeared = FashionlabError(f"{given} appeared while this command worked (another process "
                               "wrote it?); it is left as it is: choose another name, or pass "
                               "--force to replace it")
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise appeared from None
    except OSError as exc:  # a file system without hard links: create the name, then rename
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            raise appeared from None
        os.replace(tmp, target)
    else:
        Path(tmp).unlink()


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, default=jsonable) + "\n").encode())


def jsonable(value: Any) -> Any:
    """``json.dumps``' ``default``: paths as text, tensors as lists, NumPy numbers as numbers."""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def prepare_output_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) and check that it is writable, before any work starts."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FashionlabError(f"cannot write to the output folder {path}: {reason}") from None
    return path


def prepare_output_file(path: str | Path) -> Path:
    """Check, before any work starts, that the file ``path`` can be written: nothing but a
    regular file is there (``writable_target``), and its folder exists or can be made."""
    path = Path(path).expanduser()
    target = writable_target(path)
    prepare_output_dir(target.parent if str(target.parent) else Path("."))
    return path
