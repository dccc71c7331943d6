"""mi-edge offline exporter: data loading, training, quantization and bundle writing.

Runs on a workstation. It may import torch and scikit-learn, and imports :mod:`edge` so that
features, filters and windowing are computed by one piece of code on both sides.
"""
