cd /work/exp16
c=$1
/work/main/.venv/bin/mlsurrogate train --config $c.toml --out $c.mlsm --overwrite > $c.log 2>&1
/work/main/.venv/bin/python /work/main/benchmarks/be_model_check.py --model $c.mlsm --snapshots perfect_8 i2_8 perfect_12 i2_12 i2_8_zs21 i2_8_z23 --json ${c}_check.json > ${c}_check.log 2>&1
