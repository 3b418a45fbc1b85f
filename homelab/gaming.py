"""The gaming toggle's record on a GPU worker: while /opt/homelab/gaming-mode exists, the worker is someone's
gaming PC first. Its GPU stack is stopped (the GPU is free for games) and the GPU specs skip with "gaming mode".

`python -m bootstrap.gaming on|off HOST` writes and removes it; bootstrap phase 3 leaves the GPU stack alone
while it exists. The file holds when and by whom gaming mode was switched on, for the report.
"""

from __future__ import annotations

MARKER = "/opt/homelab/gaming-mode"
READ = f"cat {MARKER} 2>/dev/null || true"
SKIP_REASON = "gaming mode"


def describe(record: str) -> str | None:
    """None when the worker is not in gaming mode; else the skip reason, with what the record says."""
    record = record.strip()
    if not record:
        return None
    return f"{SKIP_REASON} ({record}): the GPU stack is stopped on purpose; `python -m bootstrap.gaming off HOST`"
