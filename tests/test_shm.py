"""Tensors between the gRPC process and compute workers (server/execution/shm.py): large arrays
travel through shared-memory segments the receiver unlinks as it maps them, small ones inside
the pickle, a full /dev/shm falls back to the pickle instead of failing, and what a server
killed outright leaves behind is removed by the next one."""

from __future__ import annotations

import errno
import glob
import os

import numpy as np
import pytest

from wengert.server.execution import shm
from wengert.testing import launch, start_server, wait_until_serving

PREFIX = f"wengert-test-{os.getpid()}-"
LARGE = shm.INLINE_BYTES // 8 * 3  # float64 elements well past the inline size


def segments() -> list[str]:
    return glob.glob(os.path.join(shm.SEGMENT_DIR, PREFIX + "*"))


@pytest.mark.parametrize("array", [np.linspace(0, 1, LARGE), np.arange(2 * LARGE, dtype=">f8")[::2],
                                   np.arange(LARGE, dtype=np.int32).reshape(-1, 2).T,
                                   np.arange(LARGE * 8) % 3 == 0, np.ones(3)],
                         ids=["contiguous", "strided big-endian", "transposed", "bool", "small"])
def test_arrays_arrive_equal_and_their_segments_are_gone_once_loaded(array):
    data, names = shm.dumps({"a": array, "meta": ("x", 3)}, PREFIX)
    assert len(names) == (array.nbytes >= shm.INLINE_BYTES) == len(segments())
    back = shm.loads(data)
    np.testing.assert_array_equal(back["a"], array)
    assert back["a"].dtype == array.dtype and back["meta"] == ("x", 3)
    assert segments() == []


def test_a_full_dev_shm_sends_the_array_in_the_pickle(monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shm.os, "write", full)
    array = np.linspace(0, 1, LARGE)
    data, names = shm.dumps(array, PREFIX)
    assert names == [] and segments() == []
    np.testing.assert_array_equal(shm.loads(data), array)


def test_files_of_a_server_whose_lock_nobody_holds_are_swept_and_a_held_ones_kept():
    gone, running = f"wengert-gone{os.getpid()}-", f"wengert-running{os.getpid()}-"
    held = shm.claim(f"running{os.getpid()}")  # as a running server holds its lock
    paths = [os.path.join(shm.SEGMENT_DIR, prefix + rest) for prefix in (gone, running)
             for rest in ("lock", "status-0", "1-7-in-0")]
    for path in paths:
        open(path, "ab").close()
    try:
        assert shm.sweep_orphans() >= 3
        assert [os.path.exists(p) for p in paths] == [False] * 3 + [True] * 3
        with pytest.raises(RuntimeError, match="another running server holds"):
            shm.claim(f"running{os.getpid()}")
    finally:
        os.close(held)
        shm.sweep(gone)
        shm.sweep(running)


def test_a_server_killed_outright_leaves_files_the_next_server_removes():
    killed = wait_until_serving(launch("--compute-workers", "1"))
    try:
        killed.process.kill()
        killed.process.wait()
        left = glob.glob(os.path.join(shm.SEGMENT_DIR, f"wengert-{killed.process.pid}-*"))
        assert left  # its workers' status files: a SIGKILLed server cannot remove them
        with start_server("--compute-workers", "1"):
            assert not any(os.path.exists(path) for path in left)
    finally:
        killed.close_log()
        shm.sweep(f"wengert-{killed.process.pid}-")
