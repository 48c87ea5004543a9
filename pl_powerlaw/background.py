"""Work that need not block training: one worker thread that runs jobs in the order given.

The degree monitor hands its figures (rendering, PNG files, TensorBoard images) to a
:class:`BackgroundQueue`, so that the next optimizer step need not wait for matplotlib. One
worker keeps the jobs in order; an error in a job is raised again in the caller's thread at its
next :meth:`~BackgroundQueue.submit` or :meth:`~BackgroundQueue.wait`, so no failure is lost;
:meth:`~BackgroundQueue.wait` returns once everything submitted has run. The worker is not a
daemon: at interpreter exit Python waits for the jobs already submitted. Plain standard library.

Example:
    >>> queue = BackgroundQueue("example")
    >>> seen = []
    >>> for i in range(3):
    ...     queue.submit(seen.append, i)
    >>> queue.wait()
    >>> seen
    [0, 1, 2]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class BackgroundQueue:
    """Jobs run one at a time, in order, on one worker thread started at the first job.

    Args:
        name: the worker thread's name prefix (seen in ``py-spy`` and tracebacks).
        enabled: False runs every job at once in the caller's thread (the same results, no thread;
            for debugging and for callers that must not overlap).
    """

    def __init__(self, name: str, enabled: bool = True) -> None:
        self.name = name
        self.enabled = bool(enabled)
        self._executor: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()

    def submit(self, job: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``job(*args, **kwargs)`` after the jobs before it; first raise any earlier error."""
        self._collect(block=False)
        if not self.enabled:
            job(*args, **kwargs)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._pending.append(self._executor.submit(job, *args, **kwargs))

    def wait(self) -> None:
        """Return when every submitted job has run; raise the first error of one of them."""
        self._collect(block=True)

    @property
    def pending(self) -> int:
        """Jobs submitted that have not finished (or whose error has not been raised yet)."""
        return len(self._pending)

    def close(self) -> None:
        """:meth:`wait`, then stop the worker thread (a later job starts a new one)."""
        try:
            self.wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def _collect(self, block: bool) -> None:
        while self._pending and (block or self._pending[0].done()):
            future = self._pending.popleft()
            error = future.exception()  # waits for it when blocking
            if error is not None:
                # the jobs after a failed one still run; their errors come at later calls
                raise error

    def __getstate__(self) -> dict[str, Any]:  # a copy (deepcopy, pickle) has no thread or jobs
        state = self.__dict__.copy()
        state["_executor"], state["_pending"] = None, deque()
        return state
