"""Tensors between the gRPC process and the compute workers, through shared memory.

A message (a call, a result, a piece of a stream) is pickled, except that every NumPy array of
at least `INLINE_BYTES` is written to its own shared-memory segment and pickled as a handle
(segment name, dtype, shape); unpickling maps the segment and views it without a copy. So a
large tensor is copied once into shared memory by the side that has it, and read in place by the
other.

Segments are files in /dev/shm named `wengert-<server pid>-<slot>-<request>-<part>-<k>`. The side
that *receives* a message owns its segments: it unlinks each one as soon as it has mapped it
(the mapping stays valid until the arrays viewing it are gone). When a worker dies, its segments
that nobody mapped are found by their name prefix and unlinked (`sweep`), so nothing is left in
/dev/shm after a crash. A server killed outright (SIGKILL, the OOM killer) cannot sweep, so
each server holds a lock on a file of its own, `wengert-<pid>-lock`, while it runs (`claim`),
and the next server to start unlinks the files of every server whose lock nobody holds
(`sweep_orphans`): a lock, not the pid, says whether a server is alive, because servers in
other containers sharing /dev/shm have pids this one cannot see. Files are created and unlinked
through the file system rather than `multiprocessing.shared_memory`, whose resource tracker
unlinks segments when the process that merely attached them exits.
"""

from __future__ import annotations

import fcntl
import glob
import io
import mmap
import os
import pickle
import tempfile
from typing import Any

import numpy as np

INLINE_BYTES = 1 << 16  # smaller arrays travel inside the pickle
SEGMENT_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def slot_prefix(server_pid: int, slot: int) -> str:
    """The name prefix of every segment of the requests one worker slot handles."""
    return f"wengert-{server_pid}-{slot}-"


def prefix(server_pid: int, slot: int, request: int, part: str) -> str:
    """The name prefix of the segments of one message of one request: `part` is "in" for the
    call, a number for the worker's answers."""
    return f"{slot_prefix(server_pid, slot)}{request}-{part}-"


class _Writer(pickle.Pickler):
    def __init__(self, file, prefix: str):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.prefix, self.count, self.names = prefix, 0, []

    def persistent_id(self, obj: Any):
        if type(obj) is not np.ndarray or obj.nbytes < INLINE_BYTES or obj.dtype.hasobject:
            return None
        name = f"{self.prefix}{self.count}"
        self.count += 1
        path = os.path.join(SEGMENT_DIR, name)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            _write(fd, obj if obj.flags.c_contiguous else np.ascontiguousarray(obj))
        except OSError:  # /dev/shm is full (a container's default is 64 MB): the pipe instead
            os.unlink(path)
            return None
        finally:
            os.close(fd)
        self.names.append(name)
        return (name, obj.dtype.str, obj.shape)


def _write(fd: int, array: np.ndarray) -> None:
    """`array`'s bytes written to `fd` by write(2): the kernel fills the segment's pages as it
    allocates them, about 2.5x faster than faulting in a fresh mapping page by page, and a
    full /dev/shm is an error (ENOSPC) rather than a SIGBUS."""
    data = memoryview(array.reshape(-1)).cast("B")
    done = 0
    while done < len(data):
        done += os.write(fd, data[done:])


class _Reader(pickle.Unpickler):
    def persistent_load(self, handle):
        name, dtype, shape = handle
        path = os.path.join(SEGMENT_DIR, name)
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            buffer = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
            os.unlink(path)  # the receiver owns it: the mapping outlives the name
        return np.frombuffer(buffer, np.dtype(dtype)).reshape(shape)


def dumps(obj: Any, prefix: str) -> tuple[bytes, list[str]]:
    """`obj` pickled with its large arrays in new segments named `prefix<k>`; returns the bytes
    and the segments' names (the receiver unlinks them as it loads)."""
    file = io.BytesIO()
    writer = _Writer(file, prefix)
    try:
        writer.dump(obj)
    except BaseException:
        discard(writer.names)
        raise
    return file.getvalue(), writer.names


def loads(data: bytes) -> Any:
    """The object `dumps` pickled, its large arrays read-only views of their segments."""
    return _Reader(io.BytesIO(data)).load()


def discard(names: list[str]) -> None:
    """Unlink segments no one will load (a message that was never delivered)."""
    for name in names:
        try:
            os.unlink(os.path.join(SEGMENT_DIR, name))
        except FileNotFoundError:
            pass


def claim(server_pid: int | str) -> int:
    """Lock this server's lock file for as long as the returned descriptor stays open (the
    kernel releases it when the process dies, however it dies)."""
    path = os.path.join(SEGMENT_DIR, f"wengert-{server_pid}-lock")
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"another running server holds {path}: servers sharing {SEGMENT_DIR} (containers "
                               "with a shared IPC namespace) must have distinct pids; give each its own") from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # a sweep unlinked it between our open and our lock: make it again


def sweep_orphans() -> int:
    """Unlink every file of a server whose lock file nobody holds (it was killed outright);
    returns how many there were."""
    count = 0
    for path in glob.glob(os.path.join(SEGMENT_DIR, "wengert-*-lock")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its server runs
            os.close(fd)
            continue
        count += sweep(os.path.basename(path)[:-len("lock")])  # wengert-<pid>-
        os.close(fd)
    return count


def sweep(name_prefix: str) -> int:
    """Unlink every segment whose name starts with `name_prefix` (a dead worker's); returns how
    many there were."""
    paths = glob.glob(os.path.join(SEGMENT_DIR, glob.escape(name_prefix) + "*"))
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return len(paths)
