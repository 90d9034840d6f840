"""The simulator as a subprocess (`einklang sim`), as outside clients start it."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.sim.support import MESSAGES_XSD

EINKLANG = Path(sys.executable).parent / "einklang"


@dataclass
class RunningSim:
    process: subprocess.Popen[str]
    lines: queue.Queue[str]
    pump: threading.Thread
    seen: list[str] = field(default_factory=list)

    def wait_for(self, prefix: str, timeout: float = 20) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            if line.startswith(prefix):
                return line.split(": ", 1)[1].strip()

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        self.pump.join(timeout=20)  # communicate() must be the only reader from here on
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        stdout, stderr = self.process.communicate(timeout=20)
        return self.process.returncode, "".join(self.seen) + stdout, stderr

    def stop_without_violations(self) -> tuple[str, str]:
        """Stop it; fail if it found traffic that violates the EWS schemas."""
        code, stdout, stderr = self.stop()
        assert code == 0, stderr
        assert "Schema violations: 0\n" in stdout, stdout
        assert "schema violation" not in stderr, stderr
        return stdout, stderr


SimStarter = Callable[..., RunningSim]


def sim_processes() -> Iterator[SimStarter]:
    """Starts `einklang sim --schema ... ARGS`; kills what is still running at the end."""
    started: list[RunningSim] = []

    def start(*args: str, python_m: bool = False) -> RunningSim:
        # `python -m sim` is the same command without the engine's imports: quicker to start.
        command = [sys.executable, "-m", "sim"] if python_m else [str(EINKLANG), "sim"]
        process = subprocess.Popen(
            [*command, "--schema", str(MESSAGES_XSD), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            for line in iter(process.stdout.readline, ""):
                lines.put(line)
                if line.startswith("Mailboxes:"):
                    return  # the rest is read by communicate() in stop()

        pumping = threading.Thread(target=pump, daemon=True)
        pumping.start()
        running = RunningSim(process, lines, pumping)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.communicate(timeout=20)
