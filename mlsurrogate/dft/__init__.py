"""Training data from DFT: Quantum ESPRESSO inputs, runs (pw.x, pp.x) and conversion to what ``train`` reads."""
