#!/bin/bash
cd /work/main
mkdir -p /work/run30/checks
chk() { .venv/bin/python benchmarks/be_model_check.py --model /work/run30/$1.mlsm $3 --json /work/run30/checks/$1_$2.json > /work/run30/checks/$1_$2.log 2>&1; echo rc=$? >> /work/run30/checks/$1_$2.log; echo "$1 $2 done $(date)" >> /work/run30/launch.log; }
while [ ! -f /work/run30/E0.end ]; do sleep 10; done
echo "E0 trained $(date)" >> /work/run30/launch.log
while [ ! -f /work/run30/E1.end ]; do sleep 10; done
echo "E1 trained $(date)" >> /work/run30/launch.log
chk E0 std ""
chk E0 so "--screening --orthogonal-faults"
chk E1 std ""
chk E1 so "--screening --orthogonal-faults"
date > /work/run30/post.done
