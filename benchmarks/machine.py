"""What machine and library versions a benchmark ran on (one line for the results files)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe(*modules: str) -> str:
    """CPU, cores, Python, OS, and ``name version`` of each importable module given."""
    import importlib

    parts = [
        f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    ]
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        version = getattr(module, "__version__", "?")
        if name == "torch":
            version = f"{version} ({module.get_num_threads()} threads)"
        parts.append(f"{name} {version}")
    return "; ".join(parts)


def publish(text: str, out: Path) -> None:
    """Print a results table and write it to ``out`` (benchmarks/results/*.md)."""
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
