"""A bounded cache shared by threads that computes each key once.

Dashboard sessions run their queries on worker threads, and several may ask
for the same new result at once (the same view opened by two users, a page
asking while the server's warm-up computes it): the first caller computes,
the others wait for its answer instead of running the same queries again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class OnceCache:
    """Least-recently-used values by key, each computed by one caller at a time.

    A failure is not cached: the next caller tries again (e.g. once the
    warehouse file is back).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._running: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        return self.lookup(key, compute)[0]

    def lookup(self, key: Hashable, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """The value, and whether this call computed it (False: served from the cache, e.g. to audit the serve)."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key], False
                running = self._running.get(key)
                if running is None:
                    running = self._running[key] = threading.Event()
                    break
            running.wait()
        try:
            value = compute()
            with self._lock:
                self._items[key] = value
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
            return value, True
        finally:
            with self._lock:
                del self._running[key]
            running.set()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
