"""Pictures: guided backpropagation and the paper's figures (Figs. 3, 4, 6–11).

``ddc_tf.viz.guided_backprop`` needs TensorFlow only; ``ddc_tf.viz.plots`` needs
matplotlib (Agg backend, files only).
"""

from ddc_tf.viz.guided_backprop import GuidedBackprop, guided_backprop, guided_model, plain_gradients

__all__ = ["GuidedBackprop", "guided_backprop", "guided_model", "plain_gradients"]
