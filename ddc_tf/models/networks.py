"""The paper's networks (§3.3): a LeNet-style CNN for images and an MLP for vectors.

Each backbone maps inputs to the features that feed the clustering head; the head
(``Dense(hidden_units) → ReLU → BatchNorm``) produces the hidden representation the
DDC kernel is computed on, and ``Dense(k) → softmax`` the assignments. Split this way,
the paper's networks are:

- images:  Conv(32, 5×5) → MaxPool 2×2 → ReLU → Conv(64, 5×5) → MaxPool 2×2 → ReLU → Flatten
           | head Dense(100) → ReLU → BatchNorm | Dense(k) → softmax
- vectors: Dense(200) → ReLU → Dense(200) → ReLU
           | head Dense(500) → ReLU → BatchNorm | Dense(k) → softmax

The sibling methods add a decoder mirroring the backbone (``make_decoder``: OT clustering
and DCAN reconstruct their input) and DCAN a discriminator (``make_discriminator``).

All weights use He initialisation (He et al. 2015), as the paper does.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Sequence

import keras

from ddc_tf.checks import error_summary
from ddc_tf.models.optimizers import FusedAdam

BackboneName = Literal["conv", "mlp"]
BACKBONES: tuple[str, ...] = ("conv", "mlp")

#: He et al. (2015) initialisation, as in the paper.
KERNEL_INITIALIZER = "he_normal"
#: Width of the head's hidden layer (the hidden representation) per backbone (paper §3.3).
DEFAULT_HIDDEN_UNITS: dict[str, int] = {"conv": 100, "mlp": 500}
#: Paper §4.6 learning rates: 1e-3 for the CNN, 1e-5 for the fully connected network.
PAPER_LEARNING_RATES: dict[str, float] = {"conv": 1e-3, "mlp": 1e-5}
#: Learning rates of budgeted runs (``TrainConfig``, ``ddc-tf fit``): the paper's for the CNN;
#: 1e-3 for the MLP, because at a few thousand steps the paper's 1e-5 barely trains it:
#: lowest-loss ACC 0.806 vs 0.644 on digits and 0.519 vs 0.403 on 20news (4 roots) at
#: 1 500 steps × 3 seeds (``benchmarks/mlp_learning_rate.py``). Presets named ``*-paper``
#: restore 1e-5 with the paper's 70 000 steps.
DEFAULT_LEARNING_RATES: dict[str, float] = {"conv": 1e-3, "mlp": 1e-3}
#: Smallest spatial size the conv backbone accepts: two valid 5×5 convs and 2×2 pools.
MIN_CONV_SIZE = 16


def conv_backbone(name: str = "conv_backbone") -> keras.Sequential:
    """The paper's convolutional feature extractor (before the fully connected layer).

    Input ``(batch, h, w, c)`` with h, w ≥ 16 (28×28 in the paper); output
    ``(batch, 64 · ((h - 4) // 2 - 4) // 2 · ((w - 4) // 2 - 4) // 2)`` — 1024 for 28×28.
    """
    return keras.Sequential(
        [
            keras.layers.Conv2D(32, 5, kernel_initializer=KERNEL_INITIALIZER, name="conv1"),
            keras.layers.MaxPooling2D(2, name="pool1"),
            keras.layers.ReLU(name="relu1"),
            keras.layers.Conv2D(64, 5, kernel_initializer=KERNEL_INITIALIZER, name="conv2"),
            keras.layers.MaxPooling2D(2, name="pool2"),
            keras.layers.ReLU(name="relu2"),
            keras.layers.Flatten(name="flatten"),
        ],
        name=name,
    )


def mlp_backbone(name: str = "mlp_backbone") -> keras.Sequential:
    """The paper's fully connected feature extractor: Dense(200) → ReLU → Dense(200) → ReLU.

    Input ``(batch, d)`` (or any ``(batch, ...)``: it is flattened first, so images work
    too); output ``(batch, 200)``.
    """
    return keras.Sequential(
        [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(200, kernel_initializer=KERNEL_INITIALIZER, name="dense1"),
            keras.layers.ReLU(name="relu1"),
            keras.layers.Dense(200, kernel_initializer=KERNEL_INITIALIZER, name="dense2"),
            keras.layers.ReLU(name="relu2"),
        ],
        name=name,
    )


def make_backbone(backbone: str) -> keras.Sequential:
    """Build a paper backbone by name (``"conv"`` or ``"mlp"``)."""
    if backbone == "conv":
        return conv_backbone()
    if backbone == "mlp":
        return mlp_backbone()
    raise ValueError(f"backbone={backbone!r}; expected one of {BACKBONES} or a keras Layer/Model")


def backbone_layer(backbone: str | keras.layers.Layer) -> tuple[str, keras.layers.Layer]:
    """``(name, layer)`` of a paper backbone given by name, or ``("custom", layer)``."""
    if isinstance(backbone, str):
        return backbone, make_backbone(backbone)
    if isinstance(backbone, keras.layers.Layer):
        return "custom", backbone
    raise TypeError(
        f"backbone must be 'conv', 'mlp' or a keras Layer/Model, got {type(backbone).__name__}"
    )


def backbone_to_config(name: str, layer: keras.layers.Layer) -> Any:
    """The ``backbone`` entry of a model's ``get_config``: the name, or a custom layer's config."""
    return keras.saving.serialize_keras_object(layer) if name == "custom" else name


def backbone_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a model config whose serialised custom ``backbone`` is a layer again."""
    config = dict(config)
    if isinstance(config.get("backbone"), dict):
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
    return config


def paper_optimizer(backbone_name: str) -> keras.optimizers.Optimizer:
    """Adam at the paper's rate for the backbone (1e-3 conv, 1e-5 mlp; 1e-3 custom): Keras' Adam,
    its update one fused kernel per variable (:class:`ddc_tf.models.optimizers.FusedAdam`)."""
    return FusedAdam(learning_rate=PAPER_LEARNING_RATES.get(backbone_name, 1e-3))


def hidden_head(units: int, name: str = "hidden") -> keras.Sequential:
    """Dense(units) → ReLU → BatchNorm: the hidden representation the DDC kernel uses.

    Input ``(batch, features)``; output ``(batch, units)``.
    """
    return keras.Sequential(
        [
            keras.layers.Dense(units, kernel_initializer=KERNEL_INITIALIZER, name="dense"),
            keras.layers.ReLU(name="relu"),
            keras.layers.BatchNormalization(name="batch_norm"),
        ],
        name=name,
    )


def build_trunk(
    backbone_name: str,
    backbone: keras.layers.Layer,
    hidden_layer: keras.layers.Layer,
    input_shape: tuple,
) -> tuple:
    """Build backbone and hidden head for inputs ``(batch, *input_shape[1:])``.

    Checks the shape against a paper backbone first; the batch dimension stays free.

    Returns:
        ``(None, *input_shape[1:])``, the input shape the layers were built for.
    """
    input_shape = (None, *tuple(input_shape)[1:])
    if backbone_name in BACKBONES:
        check_input_shape(backbone_name, input_shape[1:])
        backbone.build(input_shape)
        hidden_layer.build(backbone.compute_output_shape(input_shape))
        return input_shape
    # A user's backbone may be a subclassed Model or Layer whose sub-layers are made in
    # __init__ and built on their first call, without build() or compute_output_shape():
    # a symbolic call creates every weight now (before the optimizer is built) and gives the shape.
    try:
        output = backbone(keras.KerasTensor(input_shape, dtype="float32"))
    except Exception as error:
        raise ValueError(
            f"the backbone {backbone.name!r} cannot be called on inputs of shape {input_shape}: "
            f"{error_summary(error)}"
        ) from error
    if not isinstance(output, keras.KerasTensor) or len(output.shape) < 2:
        raise ValueError(
            f"the backbone {backbone.name!r} must return one tensor of shape (batch, features...), "
            f"got {output!r} for inputs of shape {input_shape}"
        )
    hidden_layer.build(output.shape)
    return input_shape



def check_input_shape(backbone: str, input_shape: tuple) -> None:
    """Raise a clear ValueError if ``input_shape`` (no batch dim) cannot feed ``backbone``.

    The conv backbone needs images ``(h, w, c)`` of at least 16×16; the mlp backbone
    flattens whatever fixed shape it is given.
    """
    shape = tuple(input_shape)
    if backbone == "conv":
        if len(shape) != 3:
            raise ValueError(
                f"the conv backbone needs image inputs of shape (h, w, channels), got {shape}; "
                "use backbone='mlp' (--backbone mlp) for vectors"
            )
        if min(d for d in shape[:2] if d is not None) < MIN_CONV_SIZE:
            raise ValueError(
                f"the conv backbone needs images of at least {MIN_CONV_SIZE}×{MIN_CONV_SIZE} "
                f"(two valid 5×5 convolutions and 2×2 pools), got {shape[:2]}; use backbone='mlp' (--backbone mlp)"
            )
    elif backbone == "mlp" and (len(shape) == 0 or None in shape):
        raise ValueError(
            f"the mlp backbone needs inputs of a fixed shape such as (features,), got {shape}"
        )


def make_decoder(backbone_name: str, input_shape: Sequence[int], name: str = "decoder") -> keras.Sequential:
    """A decoder mirroring the paper's backbone, from the embedding back to the inputs.

    - ``"conv"`` on images ``(h, w, c)``: Dense(100) → Dense(64·h₂·w₂) → reshape →
      ×2 upsampling → ConvTranspose(32, 5×5) → ReLU → ×2 upsampling → ConvTranspose(c, 5×5)
      (exactly the encoder's shapes in reverse for 28×28; other sizes are resized at the end).
    - anything else: Dense(200) → Dense(200) → Dense(prod(input_shape)) → reshape.

    ReLU between layers, linear output, He initialisation.
    """
    shape = tuple(int(d) for d in input_shape)
    init = KERNEL_INITIALIZER
    if backbone_name == "conv" and len(shape) == 3:
        h, w, c = shape
        h2, w2 = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        out_h, out_w = (h2 * 2 + 4) * 2 + 4, (w2 * 2 + 4) * 2 + 4
        layers = [
            keras.layers.Dense(100, activation="relu", kernel_initializer=init),
            keras.layers.Dense(64 * h2 * w2, activation="relu", kernel_initializer=init),
            keras.layers.Reshape((h2, w2, 64)),
            keras.layers.UpSampling2D(2),
            keras.layers.Conv2DTranspose(32, 5, activation="relu", kernel_initializer=init),
            keras.layers.UpSampling2D(2),
            keras.layers.Conv2DTranspose(c, 5, kernel_initializer=init),
        ]
        if (out_h, out_w) != (h, w):
            layers.append(keras.layers.Resizing(h, w))
        return keras.Sequential(layers, name=name)
    size = int(math.prod(shape))
    return keras.Sequential(
        [
            keras.layers.Dense(200, activation="relu", kernel_initializer=init),
            keras.layers.Dense(200, activation="relu", kernel_initializer=init),
            keras.layers.Dense(size, kernel_initializer=init),
            keras.layers.Reshape(shape),
        ],
        name=name,
    )


def make_discriminator(units: Sequence[int], name: str = "discriminator") -> keras.Sequential:
    """MLP ``Dense → LeakyReLU(0.2)`` per entry of ``units``, then ``Dense(1)`` logits; float32."""
    layers: list[keras.layers.Layer] = []
    for i, width in enumerate(units):
        layers.append(keras.layers.Dense(int(width), dtype="float32", name=f"dense{i + 1}"))
        layers.append(keras.layers.LeakyReLU(0.2, dtype="float32", name=f"leaky{i + 1}"))
    layers.append(keras.layers.Dense(1, dtype="float32", name="logit"))
    return keras.Sequential(layers, name=name)
