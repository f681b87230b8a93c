"""What every Chainlit hook of one app process shares: the config, the database, the backends."""

from __future__ import annotations

from dataclasses import dataclass, field

from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig
from playground.core.gc_pauses import GcPauses
from playground.core.loop_lag import LoopLagMonitor
from playground.core.timer_heap import TimerHeapSweeper
from playground.store.database import Database


@dataclass(frozen=True)
class AppContext:
    config: PlaygroundConfig
    db: Database
    # One pool per process: a local model's weights are loaded once and shared by every session.
    pool: BackendPool
    # How late this process's event loop runs (reported by /healthz; started with the app).
    loop_lag: LoopLagMonitor = field(default_factory=LoopLagMonitor)
    # The garbage collector's pauses (they stop that loop too), also reported by /healthz.
    gc_pauses: GcPauses = field(default_factory=GcPauses)
    # Drops cancelled timers from that loop's heap, which Chainlit's nest_asyncio no longer does.
    timers: TimerHeapSweeper = field(default_factory=TimerHeapSweeper)
