"""``process`` progress: a bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from sopilot_pipeline.progress import PassProgress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_say_done_total_task_elapsed_and_what_is_left() -> None:
    out = io.StringIO()
    progress = PassProgress(out)
    progress.planned(10)
    progress.ran(4, "valve")
    progress.planned(3)  # 6 outstanding at most so far: the total does not shrink
    progress.ran(6, "first aid kit")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("progress: 4/10 videos (task 'valve'), 0:00 elapsed, about")
    assert lines[1] == "progress: 10/10 videos (task 'first aid kit'), 0:00 elapsed"


def test_a_terminal_gets_a_bar() -> None:
    out = _Terminal()
    progress = PassProgress(out)
    progress.planned(10)
    progress.ran(10, "valve")
    progress.close()
    assert "10/10" in out.getvalue() and "progress:" not in out.getvalue()
