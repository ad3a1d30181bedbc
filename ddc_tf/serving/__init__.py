"""Serving: SavedModel export for TF Serving (:mod:`~ddc_tf.serving.export`) and batch
prediction from a SavedModel or a ``.keras`` file (:mod:`~ddc_tf.serving.predict`)."""
