"""spikejet: spiking neural networks for real-time jet tagging at the LHC."""

__version__ = "0.1.0"
__all__ = ["__version__"]
