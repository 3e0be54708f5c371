"""`peerledger replay`'s progress: a bar redrawn in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from operations.replay import Progress


class FakeRunner:
    """Where a runner is in its log, and the log's head."""

    def __init__(self, position: int, head: int) -> None:
        self.at, self.end = position, head

    def position(self) -> int:
        return self.at

    def head(self) -> int:
        return self.end


def test_on_a_terminal_one_line_is_redrawn_with_speed_and_time_left():
    now = [0.0]
    out = io.StringIO()
    runner = FakeRunner(25_000, 100_000)  # resumed a quarter of the way
    progress = Progress(out, tty=True, clock=lambda: now[0])
    progress.begin("followers", 2, [runner], resumed=True)
    now[0], runner.at = 2.0, 45_000
    progress.tick()
    runner.at = 100_000
    progress.end()
    header, bar = out.getvalue().split("\n", 1)
    assert header == "followers: resuming version 2 at 25,000 of 100,000 batches"
    redrawn = [line.removesuffix("\x1b[K") for line in bar.rstrip("\n").split("\r")[1:]]
    assert redrawn[1] == "followers    [#############.................]  45.0%  45,000/100,000 batches" \
        "  10,000/s  0:06 left"
    assert redrawn[-1].endswith("100.0%  100,000/100,000 batches  37,500/s  done in 0:02")
    assert bar.endswith("\n")


def test_elsewhere_a_plain_line_every_few_seconds():
    now = [0.0]
    out = io.StringIO()
    runner = FakeRunner(0, 1_000)
    progress = Progress(out, tty=False, every=5.0, clock=lambda: now[0])
    progress.begin("profiles", 3, [runner], resumed=False)
    for second in range(1, 8):
        now[0], runner.at = float(second), second * 100
        progress.tick()
    runner.at = 1_000
    now[0] = 8.0
    progress.end()
    assert out.getvalue().splitlines() == [
        "profiles: building version 3",
        "profiles: 50% (500 of 1,000 batches), 100 batches/s, 0:05 left",
        "profiles: 100% (1,000 of 1,000 batches), 125 batches/s, done in 0:08",
    ]
