"""What the machine offers that changes a default: bf16 arithmetic on the CPU, a GPU.

Only :func:`gpu_visible` imports TensorFlow; :func:`cpu_has_native_bf16` reads the CPU's
flags and works before TensorFlow loads.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["NATIVE_BF16_FLAGS", "cpu_has_native_bf16", "gpu_visible"]

#: x86 CPU flags (as Linux names them in ``/proc/cpuinfo``) under which oneDNN runs bf16
#: matrix products and convolutions in hardware: AVX-512 BF16 (Cooper Lake, Zen 4 and later)
#: and AMX (Sapphire Rapids and later). Without them bf16 is emulated and slower than float32.
NATIVE_BF16_FLAGS: frozenset[str] = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU lists one of :data:`NATIVE_BF16_FLAGS`. False where the file cannot be
    read (macOS, Windows): the safe answer, float32 is never slower than emulated bf16."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return not NATIVE_BF16_FLAGS.isdisjoint(value.split())
    return False


def gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU (imports TensorFlow)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))
