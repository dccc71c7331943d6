"""mi-edge runtime: the torch-free part that runs on the Raspberry Pi.

Data path: board -> ring buffer -> window -> preprocessing -> decoder -> posterior -> decision
-> frame -> device. Only numpy, scipy, onnxruntime (or a TFLite interpreter), BrainFlow and
pyserial are imported here; never torch or scikit-learn.
"""

__version__ = "0.1.0"
