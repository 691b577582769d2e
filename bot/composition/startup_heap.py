"""After start-up, take what it built out of the garbage collector's way.

Start-up leaves about 465,000 objects that live as long as the process: modules, the agent graph, clients, parsers.
Each full (generation 2) collection walks all of them, and it runs on the event loop that acknowledges Slack:
measured at 135-274 ms in ``serve`` (bench/RESULTS.md, "Slack acknowledgements"), a stall of every request in
flight. Frozen (``gc.freeze``), they are left out of every later collection, which then walks only what was made
since. They were live when frozen, so nothing collectable is kept.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect once, then freeze what is left; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info("start-up objects frozen out of garbage collection: %d", frozen)
    return frozen
