"""Start-up time of `switchboard serve` on the embedded defaults, until /healthz answers 200.

Measures a start with a fresh data folder (initdb + migrations) and a restart on existing data, each several times,
using this checkout's .venv. The install itself (make's venv creation and pip) depends on the network and pip's
cache, so it is measured separately by timing `make run` from a fresh clone (see bench/RESULTS.md).

    .venv/bin/python bench/cold_start.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_and_time(home: Path) -> float:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LLM_", "DATABASE_URL"))}
    environment["SWITCHBOARD_HOME"] = str(home)
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/switchboard"), "serve", "--port", str(port)],
        env=environment,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"serve exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one run of each case")
    args = parser.parse_args()
    runs = 1 if args.quick else 5
    fresh, restart = [], []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="sbbench-", dir="/tmp"))
        home.chmod(0o755)
        fresh.append(start_and_time(home))
        restart.append(start_and_time(home))
        shutil.rmtree(home, ignore_errors=True)
        print(f"fresh data folder {fresh[-1]:.2f} s, restart {restart[-1]:.2f} s", file=sys.stderr)
    print(
        json.dumps(
            {
                "runs": runs,
                "fresh_data_p50_ms": round(statistics.median(fresh) * 1000),
                "fresh_data_max_ms": round(max(fresh) * 1000),
                "restart_p50_ms": round(statistics.median(restart) * 1000),
                "restart_max_ms": round(max(restart) * 1000),
            }
        )
    )


if __name__ == "__main__":
    main()
