"""What the training loop tells the person who runs it, and how it listens to them (rank 0 only speaks).

- :class:`Progress`: a tqdm bar when stderr is a terminal and ``train.progress`` is on; otherwise (a log file, a
  pipe, or ``train.progress=false``) plain lines ``step 120/1000  loss 0.0412  35.1 samples/s  0:01:02``, the first
  logged window, then at most one every ``line_interval`` seconds, and the last, so a redirected log stays short.
- :class:`StopRequest`: the first Ctrl-C (SIGINT) or SIGTERM asks the loop to end after the current step (several
  ranks: at the next logged step, together) with a checkpoint, which resumes exactly; a second Ctrl-C interrupts
  at once.
- :func:`thread_hint`: a note when torch runs several threads on a CPU that other processes already keep busy
  (threads that wait on each other can make a step many times slower than one thread).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import timedelta

import torch
from tqdm import tqdm

LINE_INTERVAL = 30.0  # seconds between plain progress lines (the first and the last are always printed)


class Progress:
    """Steps done out of ``total`` (starting at ``initial``), as a bar or as plain lines (see the module doc)."""

    def __init__(self, total: int, initial: int, enabled: bool, bar: bool, line_interval: float | None = None):
        self.total, self.enabled = total, enabled
        self.line_interval = LINE_INTERVAL if line_interval is None else line_interval
        self.use_bar = enabled and bar and sys.stderr.isatty()
        self.bar = tqdm(total=total, initial=initial, desc="train", dynamic_ncols=True) if self.use_bar else None
        self.started = time.perf_counter()
        self.last_line: float | None = None
        self.pending: str | None = None  # the newest line not printed yet (printed by close)

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def log(self, step: int, row: dict[str, float]) -> None:
        """After each logged window: the bar's postfix, or a plain line when one is due."""
        loss, sps = row.get("loss", float("nan")), row.get("samples_per_s", float("nan"))
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", sps=f"{sps:.1f}")
            return
        if not self.enabled:
            return
        elapsed = timedelta(seconds=round(time.perf_counter() - self.started))
        self.pending = f"step {step}/{self.total}  loss {loss:.4f}  {sps:.1f} samples/s  {elapsed}"
        now = time.perf_counter()
        if self.last_line is None or now - self.last_line >= self.line_interval:
            self._print()

    def _print(self) -> None:
        print(self.pending, flush=True)
        self.pending, self.last_line = None, time.perf_counter()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.pending is not None:
            self._print()


class StopRequest:
    """``with StopRequest(announce) as stop:`` ... ``stop.requested`` turns True on the first SIGINT / SIGTERM.

    Handlers are installed only in the main thread (elsewhere signals keep their usual effect); the previous
    handlers come back on exit. A second SIGINT raises KeyboardInterrupt at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, announce: bool = True) -> None:
        self.announce = announce
        self.requested = False
        self.previous: dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            print(f"\n{signal.Signals(signum).name}: stopping after this step and saving a checkpoint "
                  "(Ctrl-C again to quit at once)", file=sys.stderr, flush=True)

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()


def thread_hint(device: torch.device) -> str | None:
    """A one-line note when torch uses several CPU threads while the 1-minute load average shows that other
    processes already occupy the cores those threads need; None otherwise (and on GPUs)."""
    if device.type != "cpu" or not hasattr(os, "getloadavg"):
        return None
    threads, cores, load = torch.get_num_threads(), os.cpu_count() or 1, os.getloadavg()[0]
    if threads < 2 or load < 1.0 or load + threads <= cores:
        return None
    return (f"note: torch uses {threads} threads on {cores} cores while the load average is {load:.1f}; on a busy "
            "machine one thread (OMP_NUM_THREADS=1) is often several times faster")
