"""Write DATA/<cell>/ldos_s<10 sigma>.npy, QE's LDOS broadened to a total Gaussian width SIGMA eV
(scripts/be_dataset.py's broadened_ldos, which makes the training targets). Usage: python broaden_ldos.py SIGMA CELL ..."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../scripts"))
from be_dataset import broadened_ldos  # noqa: E402

for cell in sys.argv[2:]:
    broadened_ldos(os.path.join(os.path.expanduser("~/.cache/mlsurrogate/be"), cell), float(sys.argv[1]))
