"""ddc_tf: Deep Divergence-based Clustering (Kampffmeyer et al., Neural Networks 2019) in Keras 3."""

__version__ = "0.1.0"
