"""Import TensorFlow without its start-up chatter, keeping every other message.

On import and at device discovery TensorFlow's C++ runtime writes lines such as
``oneDNN custom operations are on``, ``Could not find cuda drivers``, ``This TensorFlow
binary is optimized to use available CPU instructions`` and, on a machine without a GPU,
``failed call to cuInit`` — some of them before ``TF_CPP_MIN_LOG_LEVEL`` is read. They bury
the output users came for (every ``ddc-tf`` command, every notebook cell). This module
imports TensorFlow and lists its devices with file descriptor 2 redirected to a temporary
file, then writes back every line that is not one of those notices: Python warnings and
real errors are kept. ``DDC_TF_TF_LOGS=1`` turns the filter off.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

__all__ = ["NOISE", "import_tensorflow_quietly", "is_noise"]

#: TensorFlow's start-up notices (matched anywhere in a line).
NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    re.compile(r"^[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor|"
               r"cuda_dnn|cuda_fft|cuda_blas|gpu_device|gpu_timer)\.cc:\d+\]"),
    re.compile(r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.$"),
)


def is_noise(line: str) -> bool:
    """True for one of TensorFlow's start-up notices."""
    return any(pattern.search(line) for pattern in NOISE)


def import_tensorflow_quietly() -> None:
    """Import ``tensorflow`` (and discover its devices) with its start-up notices removed."""
    if "tensorflow" in sys.modules or os.environ.get("DDC_TF_TF_LOGS") == "1":
        import tensorflow  # noqa: F401
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # File descriptor 2 itself, not sys.stderr: the C++ runtime writes there (in a Jupyter
    # kernel sys.stderr is a Python object and fd 2 a pipe the kernel forwards to the cell).
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no fd 2 at all: nothing to filter
        import tensorflow  # noqa: F401
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery (cuInit) inside the filter
        finally:
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines() if not is_noise(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()
