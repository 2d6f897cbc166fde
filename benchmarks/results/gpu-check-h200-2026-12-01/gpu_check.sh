#!/bin/bash
# GPU checks for mlsurrogate on the lent H200: the CUDA unit test, then a whole predict --device cuda vs cpu.
export PYTHONUNBUFFERED=1
t0=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - t0 )) s] $*"; }
stamp start; nvidia-smi -L; nproc
python3 -c "import torch, sys; print(sys.version); print('torch', torch.__version__, torch.cuda.is_available())"
mkdir -p /tmp/fftw /tmp/mpich
for f in .devdata/fftw/*.deb; do dpkg -x $f /tmp/fftw; done
python3 -m zipfile -e .devdata/whl/mpich-5.0.2-*.whl /tmp/mpich
MPICH=/tmp/mpich/mpich-5.0.2.data/data
chmod +x $MPICH/bin/* 2>/dev/null
export LD_LIBRARY_PATH=/tmp/fftw/usr/lib/x86_64-linux-gnu:$MPICH/lib:$LD_LIBRARY_PATH
export PATH=$MPICH/bin:/tmp/site/bin:$PATH
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .devdata/whl/ase-*.whl .devdata/whl/mpi4py-*.whl .devdata/whl/pyfftw-*.whl || echo "WHEELS FAILED"
export PYTHONPATH=/tmp/site
mkdir -p ../shared/testdata && cp -r .devdata/Be2 ../shared/testdata/
python3 -c "from mpi4py import MPI; print(MPI.Get_library_version()[:60])"
stamp "CUDA unit test"
PYTHONPATH=/tmp/site:. python3 -m pytest -q -p no:cacheprovider tests/test_precision.py -k cuda -rs 2>&1 | tee $OUT/cuda_test.txt
stamp "build mpi4py-fft"
FFTW_INCLUDE_DIR=/tmp/fftw/usr/include FFTW_LIBRARY_DIR=/tmp/fftw/usr/lib/x86_64-linux-gnu \
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site .devdata/fftw/mpi4py_fft-2.0.6.tar.gz 2>&1 | tail -5
stamp "build mlsurrogate"
CMAKE_BUILD_PARALLEL_LEVEL=16 python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site . 2>&1 | tail -15
mkdir -p /tmp/mlsbin && printf '#!/bin/sh\nexec python3 -c "import sys; from mlsurrogate.cli.main import main; sys.exit(main())" "$@"\n' > /tmp/mlsbin/mlsurrogate && chmod +x /tmp/mlsbin/mlsurrogate && export PATH=/tmp/mlsbin:$PATH
python3 -c "import mpi4py_fft, mlsurrogate.descriptors.native_grid as n; print('imports ok')" || exit 1
cd /tmp && S=$OLDPWD/../shared/testdata/Be2 && R=$OLDPWD
stamp "predict Be2 snapshot0, be2.mlsm, float64 + bfloat16, cpu vs cuda"
for prec in float64 bfloat16; do for dev in cpu cuda; do
  mlsurrogate predict --model $R/models/be2.mlsm --structure $S/Be_snapshot0.out --pseudo-dir $S --precision $prec \
    --device $dev --no-plot --out /tmp/be2_${prec}_$dev > /tmp/be2_${prec}_$dev.log 2>&1 || { echo "FAILED $prec $dev"; tail -20 /tmp/be2_${prec}_$dev.log; }
done; done
stamp "predict demo structure (200 atoms), be.mlsm, 1 rank and 4 ranks on the GPU"
for dev in cpu cuda; do
  mlsurrogate predict --model $R/models/be.mlsm --structure $R/examples/be_hcp_200.extxyz --pseudo-dir $S --device $dev \
    --no-plot --out /tmp/demo_1_$dev > /tmp/demo_1_$dev.log 2>&1 || { echo "FAILED demo $dev"; tail -20 /tmp/demo_1_$dev.log; }
done
mpiexec -n 4 mlsurrogate predict --model $R/models/be.mlsm --structure $R/examples/be_hcp_200.extxyz --pseudo-dir $S --device cuda \
    --no-plot --out /tmp/demo_4_cuda > /tmp/demo_4_cuda.log 2>&1 || { echo "FAILED demo 4 ranks"; tail -20 /tmp/demo_4_cuda.log; }
stamp "compare"
python3 - <<'PY' | tee $OUT/predict_cuda_vs_cpu.txt
import json, os
def r(d):
    p = f"/tmp/{d}/results.json"
    return json.load(open(p)) if os.path.exists(p) else None
for a, b in [("be2_float64_cpu", "be2_float64_cuda"), ("be2_bfloat16_cpu", "be2_bfloat16_cuda"),
             ("demo_1_cpu", "demo_1_cuda"), ("demo_1_cpu", "demo_4_cuda")]:
    x, y = r(a), r(b)
    if x is None or y is None:
        print(a, b, "missing"); continue
    n = x["natoms"]
    print(f"{a} vs {b}: natoms {n}, precision {x['precision']}/{y['precision']}, ranks {x['ranks']}/{y['ranks']}")
    for k in ("total_energy_eV", "band_energy_eV", "fermi_energy_eV", "number_of_electrons"):
        print(f"  {k}: {x[k]!r} {y[k]!r}  diff {y[k]-x[k]:+.3e}" + (f"  ({(y[k]-x[k])/n*1000:+.4f} meV/atom)" if 'energy_eV' in k and 'fermi' not in k else ""))
    print("  timings_s cpu :", {k: round(v, 3) for k, v in x["timings_s"].items()})
    print("  timings_s cuda:", {k: round(v, 3) for k, v in y["timings_s"].items()})
PY
for f in /tmp/*.log; do echo "--- $f"; tail -4 $f; done > $OUT/logs_tail.txt
stamp done
