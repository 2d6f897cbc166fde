#!/bin/bash
cd /work/main
.venv/bin/python scripts/be_dataset.py --data /work/run30/alt --settings /root/.cache/mlsurrogate/be/i2_8_r21.settings.toml --only $1 > /work/run30/qe_alt_$1.log 2>&1
echo rc=$? >> /work/run30/qe_alt_$1.log
