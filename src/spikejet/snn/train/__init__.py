"""Training spiking networks: the one fit loop and the methods that use it.

* :mod:`.fit` -- the training loop (also the ANN's and the QCFS fine-tuning's);
* :mod:`.rate` -- the rate method (the 2019 study's Nengo-DL method);
* :mod:`.surrogate` -- surrogate-gradient training through time (:class:`SurrogateNet`);
* :mod:`.qat` -- quantization-aware training (Loihi's bit widths, the fake quantizer).

Import from the submodules: this package imports nothing on its own, so that
:mod:`spikejet.ann.train` can use :mod:`.fit` without loading the spiking methods.
"""

