#!/bin/bash
cd /work/main
.venv/bin/python scripts/be_dataset.py --settings /work/run30/be_dft_1rank.toml --only $1 > /work/run30/qe_$1.log 2>&1
echo rc=$? >> /work/run30/qe_$1.log
