"""What the machine has: the memory available now (the default budgets)."""

from __future__ import annotations


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable), or 4 GiB if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30


def default_budget() -> int:
    """Half of the memory available now."""
    return available_memory() // 2
