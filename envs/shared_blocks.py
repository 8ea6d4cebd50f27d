"""Blocks of shared memory whose arrays are handed out as views and reused once no view is alive.

A :class:`SharedBlock` is one ``multiprocessing.shared_memory`` segment laid out as named arrays
(a :data:`Spec`), each a view of the block's **root** array (``uint8``, the whole segment), so
that every numpy view of any of them holds a reference to the root: the block is free when only
the block itself does (``sys.getrefcount``). :class:`Blocks` hands out a free block of a layout, or
a new one, keeps at most :data:`FREE_BLOCKS` free ones and lists those it unlinked, for the other
processes to detach. The worker processes of a vector env attach the blocks by name
(:mod:`budgetgym.envs.vector_processes`).
"""

from __future__ import annotations

import os
import sys
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from budgetgym.envs.errors import BudgetGymError

__all__ = ["FREE_BLOCKS", "LIVE_BLOCKS", "SHM_DIR", "BlockRef", "Blocks", "SharedBlock", "Spec"]

#: a block's arrays: ``(name, shape, dtype string)`` in order
Spec = tuple[tuple[str, tuple[int, ...], str], ...]
#: how a worker finds a block: ``(shared memory name, spec)``
BlockRef = tuple[str, Spec]

#: free blocks kept for reuse; more are unlinked
FREE_BLOCKS = 4
#: blocks alive (held by the caller) beyond which a step's results are returned as copies: each
#: block holds a file descriptor and a mapping in every process
LIVE_BLOCKS = 32
#: where POSIX shared memory lives on Linux (checked for room before a block is made)
SHM_DIR = "/dev/shm"


def _offsets(spec: Spec) -> tuple[list[int], int]:
    """Each array's byte offset in a block (64-byte aligned) and the block's size."""
    offsets, size = [], 0
    for _, shape, dtype in spec:
        offsets.append(size)
        size += -(-int(np.prod(shape)) * np.dtype(dtype).itemsize // 64) * 64
    return offsets, max(size, 64)


class _Shm(SharedMemory):
    """``SharedMemory`` whose finaliser stays quiet while arrays still view it (the mapping then goes
    with the last of them)."""

    def __del__(self) -> None:
        try:
            self.close()
        except (BufferError, OSError):
            pass


class SharedBlock:
    """One block of shared memory and its root array (every array of the block is a view of it)."""

    def __init__(self, spec: Spec, name: str | None = None):
        offsets, size = _offsets(spec)
        self.spec, self.offsets = spec, offsets
        if name is None and os.path.isdir(SHM_DIR):  # tmpfs fails a write beyond its size by SIGBUS: refuse first
            st = os.statvfs(SHM_DIR)
            if st.f_bavail * st.f_frsize < size:
                raise BudgetGymError(
                    f"processes: a step's shared block needs {size / 2**20:.0f} MiB, but {SHM_DIR} has "
                    f"{st.f_bavail * st.f_frsize / 2**20:.0f} MiB free; use threads (processes=1) or fewer rows"
                )
        self.shm = _Shm(name=name, create=name is None, size=size if name is None else 0)
        fd = getattr(self.shm, "_fd", -1)  # the mapping keeps a descriptor of its own: one is enough
        if fd >= 0:
            os.close(fd)
            self.shm._fd = -1  # type: ignore[attr-defined]
        buf = self.shm.buf
        assert buf is not None
        self.root: np.ndarray | None = np.frombuffer(buf, np.uint8)

    @property
    def ref(self) -> BlockRef:
        return self.shm.name, self.spec

    def arrays(self) -> dict[str, np.ndarray]:
        """Fresh views of the block's arrays, by name."""
        root = self.root
        assert root is not None
        out = {}
        for (name, shape, dtype), off in zip(self.spec, self.offsets, strict=True):
            n = int(np.prod(shape)) * np.dtype(dtype).itemsize
            out[name] = root[off:off + n].view(dtype).reshape(shape)
        return out

    def free(self) -> bool:
        """No array views the block (but for this object's root)."""
        return sys.getrefcount(self.root) <= 2

    def close(self, unlink: bool) -> None:
        """Release the block (unmapped once no array views it)."""
        self.root = None
        try:
            self.shm.close()
        except BufferError:  # arrays still view it: the mapping goes with the last of them
            pass
        if unlink:
            try:
                self.shm.unlink()
            except FileNotFoundError:
                pass


class Blocks:
    """The calling process's blocks (module docstring): :meth:`take` a free block of a layout, or a
    new one; blocks beyond :data:`FREE_BLOCKS` free ones are unlinked and listed for the workers to
    forget (:meth:`forgotten`)."""

    def __init__(self) -> None:
        self.blocks: list[SharedBlock] = []
        self._forget: list[str] = []

    def take(self, spec: Spec) -> tuple[BlockRef, dict[str, np.ndarray]]:
        free = [b for b in self.blocks if b.free()]
        block = next((b for b in free if b.spec == spec), None)
        for extra in [b for b in free if b is not block][FREE_BLOCKS:]:
            self.blocks.remove(extra)
            self._forget.append(extra.shm.name)
            extra.close(unlink=True)
        if block is None:
            block = SharedBlock(spec)
            self.blocks.append(block)
        return block.ref, block.arrays()

    def forgotten(self) -> list[str]:
        out, self._forget = self._forget, []
        return out

    def close(self) -> None:
        for block in self.blocks:
            block.close(unlink=True)
        self.blocks = []
