"""Long-wavelength charge of a density: E_H of the |G| < 1.5 1/A part of n - n_SAD (superposed atomic
densities, PP_RHOATOM), in meV per cell. DFT densities from the cache; model densities from pr_<name>/density.h5
(predict --save density) in the current folder. Usage: python macro.py NAME ..."""
import numpy as np, os, re, ase.io, sys
E2=14.399645; B=0.529177210903
t=open(os.path.join(os.path.dirname(__file__), '../../../../../shared/testdata/Be2/Be.pbe-n-rrkjus_psl.1.0.0.UPF')).read()
def arr(tag):
    m=re.search(r"<%s[^>]*>(.*?)</%s>"%(tag,tag), t, re.S); return np.array(m.group(1).split(), float)
r=arr('PP_R')*B; rab=arr('PP_RAB')*B; rho4pi=arr('PP_RHOATOM')/B  # 4 pi r^2 rho, per A
print('rho_atom integral', np.sum(rho4pi*rab))
def form(q):  # electrons
    return np.array([np.sum(rho4pi*rab*np.sinc(qq*r/np.pi)) for qq in np.atleast_1d(q)])
def macro(n, atoms, gc=1.5, sad=True):
    cell=np.array(atoms.cell); Om=abs(np.linalg.det(cell)); N=n.size
    ng=np.fft.fftn(n)/N
    rec=2*np.pi*np.linalg.inv(cell).T
    ms=[np.fft.fftfreq(s, 1/s) for s in n.shape]
    M=np.stack(np.meshgrid(*ms, indexing='ij'),-1)
    G=M@rec; g=np.linalg.norm(G,axis=-1)
    keep=(g>0)&(g<gc)
    Gk=G[keep]
    rho=ng[keep].copy()
    if sad:
        S=np.exp(-1j*Gk@atoms.positions.T).sum(1)
        rho-= form(g[keep])*S/Om
    return 0.5*Om*np.sum(4*np.pi*E2*np.abs(rho)**2/g[keep]**2), keep.sum()
D=os.path.expanduser('~/.cache/mlsurrogate/be')
for name in sys.argv[1:]:
    d=np.load(f'{D}/{name}/density.npy')
    a=ase.io.read(f'{D}/{name}/structure.extxyz')
    print(name, 'electrons', d.sum()*a.get_volume()/d.size, 'EH_macro meV no-SAD %.2f  SAD %.2f  nG %d' % (1000*macro(d,a,sad=False)[0], 1000*macro(d,a)[0], macro(d,a)[1]))
import h5py, json
for name in sys.argv[1:]:
    p=f'pr_{name}/density.h5'
    if not os.path.exists(p): continue
    with h5py.File(p) as f: d=f[list(f.keys())[0]][...]
    a=ase.io.read(f'{D}/{name}/structure.extxyz')
    rj=json.load(open(f'pr_{name}/results.json'))
    print('MODEL', name, 'electrons', d.sum()*a.get_volume()/d.size, 'EH_macro meV SAD %.2f' % (1000*macro(d,a)[0]), 'err meV/atom vs QE', 1000*(rj['total_energy_eV']-json.load(open(f'{D}/{name}/snapshot.json'))['energies_eV']['total_energy'])/8)
