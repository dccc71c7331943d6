"""STAFNet (graph convolution + temporal transformer + cross-attention fusion) for motor
imagery: :mod:`export.stafnet.model` (the net, paper sections), :mod:`export.stafnet.config`
(hyper-parameters and ablations), :mod:`export.stafnet.adjacency` (electrode graphs)."""

from export.stafnet.config import ABLATIONS, STAFNetConfig, variant
from export.stafnet.model import INT8_EXCLUDE, STAFNet, build_stafnet, n_parameters

__all__ = ["INT8_EXCLUDE", "ABLATIONS", "STAFNetConfig", "STAFNet", "build_stafnet", "n_parameters",
           "variant"]
