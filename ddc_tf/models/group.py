"""``RunGroup``: R independent clustering models trained by one program.

The protocol's runs are independent: each has its own weights, optimizer state and
stream of shuffled batches. Training them one after the other pays the per-step cost of
the training loop (Python dispatch, the input pipeline's hand-off, metric updates, small
kernels that leave cores idle) R times. A ``RunGroup`` holds the R models side by side
and one ``train_step`` computes all R training objectives in one traced function — one
gradient tape, one optimizer update — so the R networks' independent kernels run in the
same program (TensorFlow executes independent ops concurrently) and the loop's fixed cost
is paid once per step instead of R times.

Each member stays exactly the run it would be alone: its objective depends only on its
own weights and its own batch, so the gradient of the sum with respect to its weights is
its own gradient, and each member's own optimizer (its schedule, clipping, weight decay,
loss scale and step count) applies it. Only the order of floating-point operations may
differ (tested: the same loss curves to 1e-5 as the runs trained alone).

Batches are dicts ``{"run_0": batch_0, …, "run_{R-1}": batch_{R-1}}``, each batch what the
member would get alone (inputs, or ``{"inputs", "neighbors"}`` pairs).
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf

from ddc_tf.models.base import ClusteringModel, split_neighbors

__all__ = ["RunGroup", "member_histories", "member_key", "member_log"]


def member_key(r: int) -> str:
    """The batch-dict key of member ``r``: ``"run_<r>"``."""
    return f"run_{r}"


def member_log(name: str, r: int) -> str:
    """The key under which ``fit`` logs member ``r``'s metric ``name``: ``"<name>_<r>"``."""
    return f"{name}_{r}"


def member_histories(logged: dict[str, list[float]], members: int) -> list[dict[str, list[float]]]:
    """Split a group's ``fit`` history (keys :func:`member_log`) into one history per member,
    keyed by the metric names a single run logs."""
    out = []
    for r in range(members):
        suffix = member_log("", r)
        out.append({k[: -len(suffix)]: [float(v) for v in vals] for k, vals in logged.items() if k.endswith(suffix)})
    return out


class RunGroup(keras.Model):
    """R built, compiled clustering models trained together (see the module docstring).

    Args:
        members: the R models (``ClusteringModel``, each built and compiled: each member's
            optimizer updates its weights).
        **kwargs: passed to ``keras.Model``.

    Compile the group with ``group.compile()`` (no optimizer: the members have theirs).

    ``fit`` logs ``<metric>_<r>`` for every member's metric (``loss_0``, ``l1_0``, …).
    """

    def __init__(self, members: Sequence[ClusteringModel], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not members:
            raise ValueError("a RunGroup needs at least one member")
        if any(not m.built for m in members):
            raise ValueError("build every member before grouping them (model.build(input_shape))")
        if any(m.optimizer is None for m in members):
            raise ValueError("compile every member before grouping them: each member's optimizer trains it")
        self.members = list(members)
        self.built = True

    def compile(self, **kwargs: Any) -> None:
        """``keras.Model.compile`` without an optimizer of its own (``jit_compile`` etc. pass
        through): Keras' loop needs one, so it gets a plain SGD it never applies."""
        if kwargs.get("optimizer") is not None:
            raise ValueError("a RunGroup trains each member with the member's own optimizer; compile it without one")
        kwargs.pop("optimizer", None)
        super().compile(optimizer=keras.optimizers.SGD(), **kwargs)
        for member in self.members:
            if not member.optimizer.built:
                member.optimizer.build(member.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [metric for member in self.members for metric in member.metrics]

    def call(self, inputs: Any, training: bool = False) -> list[tf.Tensor]:
        """Each member's cluster probabilities of the same inputs: R × ``(batch, k)``."""
        return [member(inputs, training=training) for member in self.members]

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        batches = [split_neighbors(data[member_key(r)]) for r in range(len(self.members))]
        for member, (x, _) in zip(self.members, batches):
            member.before_train_step(x)
        with tf.GradientTape() as tape:
            all_terms, scaled = [], []
            for member, (x, neighbors) in zip(self.members, batches):
                terms, objective = member.step_objective(x, neighbors, tape)
                all_terms.append(terms)
                scaled.append(member.optimizer.scale_loss(objective))
            total = tf.add_n(scaled)
        variables = [member.optimized_variables() for member in self.members]
        gradients = tape.gradient(total, [v for own in variables for v in own])
        start = 0
        for member, own in zip(self.members, variables):
            member.optimizer.apply(gradients[start : start + len(own)], own)
            start += len(own)
        logs: dict[str, tf.Tensor] = {}
        for r, (member, terms) in enumerate(zip(self.members, all_terms)):
            member.after_train_step(terms)
            logs.update({member_log(name, r): value for name, value in member.update_metrics(terms).items()})
        return logs

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        raise NotImplementedError("score each member on its own (member.evaluate)")

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError("a RunGroup is a training device; save its members one by one")
