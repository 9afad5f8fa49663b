"""A delivery worker in its own process, for the crash tests (ENGINE_CRASH_AT kills it).

    python -m tests.engine.delivery.crash_worker deliver DB_URL SMTP_URL LEASE [at-least-once]
    python -m tests.engine.delivery.crash_worker enqueue DB_URL COUNT
"""

from __future__ import annotations

import os
import sys

from engine.config import Settings
from engine.delivery import deliver_due
from engine.delivery.faults import crash_point
from engine.store import db
from tests.engine.delivery.helpers import TinyBuilder, options, seed


def main(argv: list[str]) -> int:
    verb, url = argv[0], argv[1]
    engine = db.connect(url)
    if verb == "enqueue":
        seed(engine, [f"k{i}@example.com" for i in range(int(argv[2]))])
        crash_point("after_enqueue_commit")
        return 0
    worker = options(id=f"proc-{os.getpid()}", lease_seconds=float(argv[3]), batch=10,
                     at_least_once="at-least-once" in argv[4:])
    report = deliver_due(engine, Settings(smtp_url=argv[2]), build=TinyBuilder(),
                         worker=worker)
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
