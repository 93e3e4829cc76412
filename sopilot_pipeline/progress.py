"""Progress of a ``process`` pass: videos done out of those planned, the current task,
elapsed time and an estimate of what is left. A tqdm bar on a terminal; one plain line
per run otherwise (logs, CI), so a long drop is never silent."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class PassProgress:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.done = 0
        self.total = 0
        self.bar: tqdm | None = None
        if stream.isatty():
            self.bar = tqdm(total=0, unit="video", file=stream, dynamic_ncols=True)

    def planned(self, outstanding: int) -> None:
        """``outstanding`` videos are still to do now (the total grows as files land)."""
        self.total = max(self.total, self.done + outstanding)
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def ran(self, videos: int, task: str) -> None:
        self.done += videos
        if self.bar is not None:
            self.bar.set_description(task[:40])
            self.bar.update(videos)
            return
        elapsed = time.monotonic() - self.started
        left = self.total - self.done
        eta = f", about {_clock(elapsed / self.done * left)} left" if left > 0 else ""
        print(
            f"progress: {self.done}/{self.total} videos (task {task!r}), "
            f"{_clock(elapsed)} elapsed{eta}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
