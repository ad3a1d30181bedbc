"""Generic pytest fixtures shared by the whole test suite (nothing test-specific here)."""

from __future__ import annotations

import os
import sys

# TensorFlow's C++ start-up chatter would drown pytest's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest


@pytest.fixture(autouse=True)
def _reset_keras_dtype_policy():
    """Every test starts and ends with Keras' global dtype policy at float32.

    Mixed-precision tests set a global policy; without this reset it would leak into
    every test that runs after them.
    """
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.mixed_precision.set_global_policy("float32")
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.mixed_precision.set_global_policy("float32")


#: The test files with the most test time, longest first (``python -m pytest --durations=0``, summed
#: per file: 155, 146, 127, 118, 93, 86, 62 and 57 s at 840bfc7). Each file runs in one worker
#: (``--dist loadfile``) and files are handed out in collection order (``--no-loadscope-reorder``
#: in setup.cfg; pytest-xdist's default order, most tests first, started these files of few, long
#: tests last and left one worker idle while the other finished them): these go first.
SLOWEST_FILES = ("test_grouped.py", "test_cli.py", "test_training.py", "test_protocol.py", "test_models_base.py",
                 "test_sklearn.py", "test_refine.py", "test_export.py")


def pytest_collection_modifyitems(config, items):
    """Put the tests of :data:`SLOWEST_FILES` first, in that order; the rest keep theirs."""
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within a file kept


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (setup.cfg): one worker per core this process may use, at most 4. Two
    workers on the 2-core CI machine took the default suite from 524 s to 313 s; more than
    4 would mostly add TensorFlow start-ups and memory (each worker imports it). The cores
    are counted as ``ddc_tf.experiments.grouped.available_cores`` counts them, written out:
    importing ``ddc_tf`` would start TensorFlow in the controller, which runs no test."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 4))


def pytest_sessionstart(session):
    """Start TensorFlow's runtime with its default thread pools: the CLI commands the tests
    call in-process would otherwise size the pools for grouped runs
    (``ddc_tf.experiments.grouped.ops_side_by_side``) for every test after the first, in an
    order that depends on which tests run. Its own tests start fresh interpreters. (Not in
    pytest-xdist's controller, which runs no test.)"""
    if getattr(session.config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        return
    import tensorflow as tf

    tf.constant(0.0) + 0.0
