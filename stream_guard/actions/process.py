"""The actions agent in a child process (the demo, the tests, the benchmark).

>>> ActionsProcess.__name__
'ActionsProcess'
"""

from __future__ import annotations

import sys

from stream_guard.stream.process import WorkerProcess


class ActionsProcess(WorkerProcess):
    """``stream-guard actions`` in its own process group; settings (the broker, the topics,
    ``redis_url``) reach it through its environment, like a worker's."""

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "stream_guard", "actions", "--web-port", str(self.web_port),
               "--stats-file", str(self.stats_path)]
        if self.log_level is not None:
            cmd += ["--log-level", self.log_level]
        return cmd
