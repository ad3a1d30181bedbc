"""The paper's experiments: one training run, the many-run protocol, ablations, presets and tables.

- :mod:`~ddc_tf.experiments.training`: ``TrainConfig``, ``build_model``, ``train_run``,
  the selection loss on a fixed random order (``dataset_loss``).
- :mod:`~ddc_tf.experiments.grouped`: ``train_runs`` — several runs trained together, each
  what ``train_run`` gives alone (up to float rounding).
- :mod:`~ddc_tf.experiments.protocol`: ``run_protocol`` — R runs, label-free selection,
  DDC-VOTE and DDC-ENSEMBLE, k-means++ baselines, ``results.json``.
- :mod:`~ddc_tf.experiments.ablation`: Table 2 (loss-term subsets).
- :mod:`~ddc_tf.experiments.presets`: the paper's settings and CPU budgets.
- :mod:`~ddc_tf.experiments.tables`: Table 1 / Table 2 and the results table of one run.
- :mod:`~ddc_tf.experiments.demo`: the embedded offline demo.
"""
