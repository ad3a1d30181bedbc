"""What the machine offers that changes a default: bf16 arithmetic on the CPU, a GPU.

Only :func:`gpu_visible` (and so :func:`bf16_arithmetic`) imports TensorFlow;
:func:`cpu_has_amx_bf16` and :func:`onednn_enabled` work before TensorFlow loads.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["bf16_arithmetic", "cpu_has_amx_bf16", "gpu_visible", "onednn_enabled"]


def cpu_has_amx_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU lists ``amx_bf16`` among its flags (Intel AMX, Sapphire Rapids and later),
    on which oneDNN runs bf16 convolutions and matrix products in hardware — what
    ``ddc-tf fit``'s bf16 choice was measured on. (``avx512_bf16`` alone, as on Cooper Lake and
    Zen 4, was not measured.) False where the file cannot be read (macOS, Windows)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return "amx_bf16" in value.split()
    return False


def onednn_enabled() -> bool:
    """Whether TensorFlow uses oneDNN (not switched off with ``TF_ENABLE_ONEDNN_OPTS=0``);
    without it bf16 runs in slow emulation."""
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in ("0", "false")


def gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU (imports TensorFlow)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def bf16_arithmetic() -> bool:
    """Whether training here would run bf16 on the CPU's bf16 hardware: AMX, oneDNN on, and no GPU
    (which would run the network instead, and was not measured)."""
    return cpu_has_amx_bf16() and onednn_enabled() and not gpu_visible()
