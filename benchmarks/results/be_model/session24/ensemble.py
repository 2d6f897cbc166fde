"""Exact average of K native models with equal layer shapes as one block-diagonal network (for a quick check)."""
import sys, dataclasses
import numpy as np
from scipy.linalg import block_diag
from mlsurrogate.model.native_format import read_native_model, write_model
ms=[read_native_model(p) for p in sys.argv[2:]]
K=len(ms)
W=[];B=[]
# first layer: fold input scalers
W.append(np.vstack([m.weights[0]*np.asarray(m.input_scale)[None,:] for m in ms]).astype(np.float64))
B.append(np.concatenate([m.biases[0]-(m.weights[0]*np.asarray(m.input_scale)[None,:])@np.asarray(m.input_shift) for m in ms]))
for i in range(1,len(ms[0].weights)-1):
    W.append(block_diag(*[m.weights[i] for m in ms])); B.append(np.concatenate([m.biases[i] for m in ms]))
last=[];lb=np.zeros(ms[0].n_energies)
for m in ms:
    sc=np.broadcast_to(np.asarray(m.output_scale,dtype=float),(m.n_energies,)); sh=np.broadcast_to(np.asarray(m.output_shift,dtype=float),(m.n_energies,))
    last.append(sc[:,None]*m.weights[-1]/K); lb+= (sc*m.biases[-1]+sh)/K
W.append(np.hstack(last)); B.append(lb)
m0=ms[0]
e=dataclasses.replace(m0, weights=[w.astype(np.float32) for w in W], biases=[b.astype(np.float32) for b in B],
    input_shift=np.zeros(m0.n_features), input_scale=np.ones(m0.n_features), output_scale=np.ones(m0.n_energies), output_shift=np.zeros(m0.n_energies))
write_model(e, sys.argv[1], overwrite=True)
