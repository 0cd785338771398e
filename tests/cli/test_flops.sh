#!/usr/bin/env bash
# `mor flops --json` reproduces the released step count of the paper's 360M vanilla config.
source "$(dirname "$0")/common.sh"
out=$("$MOR" flops --config "$SRC_DIR/configs/paper/360m-vanilla.yaml" --json)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["steps"]==9438, d; assert abs(d["flops_per_token"]-833.6e6)<1e5, d; assert d["tokens"]>0' "$out"
echo ok
