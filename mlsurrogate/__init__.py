"""mlsurrogate: MPI-parallel machine-learned surrogate for DFT electronic structure at any length scale.

Pipeline: structure -> decomposition -> descriptors -> model -> electronic -> (energy) -> output.
"""
__version__ = "0.1.0"
