"""Broaden the pp.x LDOS (0.1 eV Gaussian) to a total Gaussian width sigma: convolve with sqrt(sigma^2-0.1^2)."""
import numpy as np, sys, os
R='/root/.cache/mlsurrogate/be/'
sigma=float(sys.argv[1]); names=sys.argv[2:]
s2=np.sqrt(sigma**2-0.1**2); de=0.1
n=int(np.ceil(5*s2/de)); x=np.arange(-n,n+1)*de
k=np.exp(-0.5*(x/s2)**2); k/=k.sum()
for nm in names:
    l=np.load(R+nm+'/ldos.npy')
    sh=l.shape; l=l.reshape(-1,sh[-1])
    out=np.empty_like(l)
    # convolve along energy with zero padding beyond the grid
    pad=np.zeros((l.shape[0],sh[-1]+2*n),l.dtype); pad[:,n:n+sh[-1]]=l
    for i in range(sh[-1]): out[:,i]=pad[:,i:i+2*n+1]@k
    d=f'/work/exp16/ldos_s{sigma}/{nm}'; os.makedirs(d,exist_ok=True)
    np.save(d+'/ldos.npy',out.reshape(sh))
    print(nm,sigma,flush=True)
