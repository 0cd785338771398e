#!/usr/bin/env bash
# Inputs that are each valid but contradict one another, or do not belong together (the bad-input
# audit of 2026-12-07): before, each of these ran with exit 0 and quietly did something else than
# asked. Each is now refused (exit 2) with a message naming the key, flag or file, and a hint;
# nothing is written. Also the clearer messages of that audit (wrong file given, wrong flag).
source "$(dirname "$0")/common.sh"


small_dataset
tiny_config
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run" --quiet >/dev/null

# --- the run's length and schedule --------------------------------------------------------------
# train.steps and train.budget_flops that disagree: before, the steps silently won.
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set train.budget_flops=1e12 --run-dir "$WORK/r1"
expect_msg "--set train.budget_flops=1e12: train.budget_flops 1e+12 buys"
expect_msg "but train.steps ($WORK/tiny.yaml:"
expect_msg "Hint: --set train.steps=0 to train on the FLOP budget"
[ ! -e "$WORK/r1" ] || fail "a refused run created its run directory"
expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --set train.budget_flops=1e12
"$MOR" flops --config "$WORK/tiny.yaml" --set train.steps=0 --set train.budget_flops=1e12 >/dev/null  # the budget alone

# A warm-up longer than the run: before, the learning rate never reached train.lr.
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set train.warmup_steps=100 --run-dir "$WORK/r2"
expect_msg "--set train.warmup_steps=100: the warm-up of 100 steps (train.warmup_steps) does not fit the run's 6 steps"
expect_msg "together with the final decay of 1 step (train.decay_frac)"
[ ! -e "$WORK/r2" ] || fail "a refused run created its run directory"
expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --set train.warmup_steps=100
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set train.schedule=cosine --set train.warmup_steps=7 --run-dir "$WORK/r2"
expect_msg "the warm-up of 7 steps (train.warmup_steps) does not fit the run's 6 steps, so the learning rate"
# ... a warm-up budget larger than the run's budget likewise.
expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --set train.steps=0 --set train.budget_flops=1e12 \
  --set train.warmup_budget_flops=1e14
expect_msg "(train.warmup_budget_flops)"
expect_msg "Hint: lower train.warmup_budget_flops, or train longer"
"$MOR" flops --config "$WORK/tiny.yaml" --set train.warmup_steps=5 --set train.decay_frac=0.1 >/dev/null  # 5 + 1 fit in 6

# --- keys that would be ignored, values out of range --------------------------------------------
expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --set model.mor.type=token --set 'model.mor.capacity=[1,0.5,0.25]'
expect_msg "model.mor.capacity applies to expert-choice routing only (model.mor.type is token"
expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --set data.prefetch=-1
expect_msg "--set data.prefetch=-1: data.prefetch must be >= 0"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set data.prefetch=1000000000 --run-dir "$WORK/r3"
expect_msg "of it overhead (the batches data.prefetch prepares ahead"

# --- the run directory may not be (or lie inside) the dataset -----------------------------------
cp -r "$WORK/ds" "$WORK/ds_copy"
before=$(cd "$WORK/ds_copy" && find . | sort | md5sum)
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set data.path="$WORK/ds_copy" --run-dir "$WORK/ds_copy"
expect_msg "--run-dir $WORK/ds_copy: is the same path as the input data.path"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set data.path="$WORK/ds_copy" --run-dir "$WORK/ds_copy/val/run"
expect_msg "lies inside the input data.path"
[ "$(cd "$WORK/ds_copy" && find . | sort | md5sum)" = "$before" ] || fail "a refused run wrote into the dataset"
mkdir -p "$WORK/outer" && cp -r "$WORK/ds" "$WORK/outer/ds"  # a run directory holding its dataset is fine
"$MOR" train --config "$WORK/tiny.yaml" --set train.steps=1 --set data.path="$WORK/outer/ds" --run-dir "$WORK/outer" --quiet >/dev/null

# --- mor prepare ---------------------------------------------------------------------------------
expect_exit 2 "$MOR" prepare --input /usr/share/common-licenses --out "$WORK/p1" --tokenizer "$WORK/ds/tokenizer.model" \
  --vocab-size 1000 --quiet
expect_msg "--vocab-size 1000 with --tokenizer $WORK/ds/tokenizer.model of 512 pieces: a reused tokenizer brings its own vocabulary"
"$MOR" prepare --input /usr/share/common-licenses --out "$WORK/p0" --tokenizer "$WORK/ds/tokenizer.model" --vocab-size 512 \
  --quiet >/dev/null 2>&1 || fail "--vocab-size equal to the tokenizer's was refused"
"$MOR" prepare --input /usr/share/common-licenses --out "$WORK/p1" --tokenizer "$WORK/ds/tokenizer.model" --quiet >/dev/null
python3 -c "import json,sys; o = json.load(open(sys.argv[1]))['options']; assert o['vocab_size'] == 512, o" "$WORK/p1/manifest.json" ||
  fail "the manifest's options do not record the reused tokenizer's vocabulary"
expect_exit 2 "$MOR" prepare --input /usr/share/common-licenses/BSD --input /usr/share/common-licenses/BSD --out "$WORK/p2" \
  --tokenizer "$WORK/ds/tokenizer.model" --quiet
expect_msg "/usr/share/common-licenses/BSD: reached through --input /usr/share/common-licenses/BSD and again through --input /usr/share/common-licenses/BSD"
expect_exit 2 "$MOR" prepare --input /usr/share/common-licenses --input /usr/share/common-licenses/BSD --out "$WORK/p2" \
  --tokenizer "$WORK/ds/tokenizer.model" --quiet
expect_msg "reached through --input /usr/share/common-licenses and again through --input /usr/share/common-licenses/BSD"
# The same file spelled relative and absolute, or through a link to its directory.
ln -s /usr/share/common-licenses "$WORK/lic-link"
expect_exit 2 "$MOR" prepare --input "$WORK/lic-link/BSD" --input /usr/share/common-licenses/BSD --out "$WORK/p2" \
  --tokenizer "$WORK/ds/tokenizer.model" --quiet
expect_msg "reached through --input $WORK/lic-link/BSD and again through --input /usr/share/common-licenses/BSD"
(cd /usr/share && "$MOR" prepare --input common-licenses/BSD --input /usr/share/common-licenses/BSD --out "$WORK/p2" \
  --tokenizer "$WORK/ds/tokenizer.model" --quiet) >/dev/null 2>"$WORK/err" && fail "relative + absolute spelling accepted"
expect_msg "reached through --input common-licenses/BSD and again through --input /usr/share/common-licenses/BSD"
# A file the directory's walk does not list (--ext) is no duplicate.
"$MOR" prepare --input /usr/share/common-licenses --ext .nothing --input /usr/share/common-licenses/BSD --out "$WORK/p5" \
  --tokenizer "$WORK/ds/tokenizer.model" --val-fraction 0 --quiet >/dev/null
[ ! -e "$WORK/p2" ] || fail "a refused prepare wrote its output"
# A link to a file of the corpus is the same document: read once (before, it was counted twice).
mkdir -p "$WORK/aliased/sub"
cp /usr/share/common-licenses/BSD /usr/share/common-licenses/Artistic "$WORK/aliased/"
ln -s ../BSD "$WORK/aliased/sub/BSD-link"
"$MOR" prepare --input "$WORK/aliased" --out "$WORK/p4" --tokenizer "$WORK/ds/tokenizer.model" --val-fraction 0.5 \
  --quiet >/dev/null 2>"$WORK/err"
expect_msg "1 file reached under a second name (a link) was read once: $WORK/aliased/BSD = $WORK/aliased/sub/BSD-link"
python3 -c "import json,sys; m = json.load(open(sys.argv[1])); assert m['documents'] == 2, m['documents']" "$WORK/p4/manifest.json" ||
  fail "an aliased file was read twice"
expect_exit 2 "$MOR" prepare --input /usr/share/common-licenses --out "$WORK/p3" --tokenizer "$WORK/ds" --quiet
expect_msg "$WORK/ds: is a directory, not a tokenizer model. Hint: pass its SentencePiece .model file"
cp -r "$WORK/ds" "$WORK/ds_bad" && sed -i 's/"vocab_size": 512/"vocab_size": "512"/' "$WORK/ds_bad/manifest.json"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set data.path="$WORK/ds_bad" --run-dir "$WORK/r4"
expect_msg "manifest.json: malformed manifest at key \"vocab_size\""

# --- exports: their keys must agree, their tokenizer travels --------------------------------------
"$MOR" export --checkpoint "$WORK/run" --out "$WORK/hf" >/dev/null
cp -r "$WORK/hf" "$WORK/hf_edit"
python3 - "$WORK/hf_edit/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["rope_theta"] = 500000.0; json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
expect_exit 2 "$MOR" import --hf "$WORK/hf_edit" --out "$WORK/edit.h5"
expect_msg "config.json: \"rope_theta\" is 500000.0 here but 10000.0 in \"mor_train_config\", which is what \`mor import\` reads (transformers reads 500000.0)"
[ ! -e "$WORK/edit.h5" ] || fail "a refused import wrote its checkpoint"
cp -r "$WORK/hf" "$WORK/hf_edit2"
python3 - "$WORK/hf_edit2/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["mor"]["expert"]["alpha"] = 0.5; json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
expect_exit 2 "$MOR" eval --checkpoint "$WORK/hf_edit2" --data "$WORK/ds"
expect_msg "the \"mor\" block gives model.mor.alpha 0.5, but \"mor_train_config\" (what \`mor import\` reads) says 0.1"
# An export of an earlier version (its mor block lacks keys, has others, differs in training-only
# settings) and one whose capacity list grew still import where the model keys agree.
cp -r "$WORK/hf" "$WORK/hf_older" && cp -r "$WORK/hf" "$WORK/hf_training"
python3 - "$WORK/hf_older/config.json" "$WORK/hf_training/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
m = c["mor"]; del m["base_depth"]; m.update(m.pop("expert")); m["kv_mode"] = "recursion"  # the flat layout before 2026-12-02
json.dump(c, open(sys.argv[1], "w"), indent=1)
c = json.load(open(sys.argv[2]))
c["mor"]["expert"]["coeff"] = 0.5; c["mor"]["expert"]["cap_warmup_step"] = 7; del c["mor"]["base_depth"]
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
"$MOR" import --hf "$WORK/hf_older" --out "$WORK/older.h5" >/dev/null || fail "an export with an older mor block was refused"
cp -r "$WORK/hf_training" "$WORK/hf_edit3"  # a model edit in a current block is caught, beside an unknown key too
python3 - "$WORK/hf_edit3/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["mor"]["num_recursion"] = 2; c["mor"]["expert"]["note"] = "hand edit"
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
expect_exit 2 "$MOR" import --hf "$WORK/hf_edit3" --out "$WORK/edit3.h5"
expect_msg "the \"mor\" block gives model.recursion.num_recursions 2"
cp -r "$WORK/hf" "$WORK/hf_type"  # a block its reader refuses cannot describe the model
python3 - "$WORK/hf_type/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["mor"]["type"] = "token"; json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
expect_exit 2 "$MOR" import --hf "$WORK/hf_type" --out "$WORK/type.h5"
expect_msg "the \"mor\" block does not describe the model of \"mor_train_config\""
"$MOR" import --hf "$WORK/hf_training" --out "$WORK/training.h5" >/dev/null || fail "training-only block settings were compared"
"$MOR" import --hf "$WORK/hf" --out "$WORK/back.h5" >/dev/null  # the unedited export imports

# A second tokenizer of the same size, from other text: an export, and a checkpoint imported from
# it, refuse it as a run's checkpoint does (before, only the run's did).
mkdir -p "$WORK/other"
find "$SRC_DIR/src" -name '*.cpp' | head -40 | xargs cat >"$WORK/other/code.txt"
find "$SRC_DIR/src" -name '*.h' | head -40 | xargs cat >"$WORK/other/headers.txt"
find "$SRC_DIR/data" -name '*.cpp' | xargs cat >"$WORK/other/data.txt"
"$MOR" prepare --input "$WORK/other" --out "$WORK/ds_other" --vocab-size 512 --val-fraction 0.34 --quiet >/dev/null
for model in "$WORK/run" "$WORK/hf" "$WORK/back.h5"; do
  expect_exit 2 "$MOR" eval --checkpoint "$model" --data "$WORK/ds_other" --max-windows 4
  expect_msg "another tokenizer"
  expect_exit 2 "$MOR" generate --checkpoint "$model" --tokenizer "$WORK/ds_other/tokenizer.model" --prompt "the" --max-new-tokens 2
  expect_msg "not the tokenizer the model was trained with"
done
expect_exit 2 "$MOR" export --checkpoint "$WORK/back.h5" --tokenizer "$WORK/ds_other/tokenizer.model" --out "$WORK/hf_other"
expect_msg "not the tokenizer the model was trained with"
"$MOR" eval --checkpoint "$WORK/back.h5" --data "$WORK/ds" --max-windows 4 >/dev/null  # its own data still evaluates

# --- clearer messages for the wrong file or flag -----------------------------------------------
expect_exit 2 "$MOR" eval --checkpoint "$WORK/tiny.yaml" --data "$WORK/ds"
expect_msg "does not start with the HDF5 signature (it starts with \"name: tiny-test\""
expect_exit 2 "$MOR" train --config "$WORK/hf/config.json" --run-dir "$WORK/r5"
expect_msg "a Hugging Face config.json (an export's), not a MoR-Train YAML config"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --steps 3 --run-dir "$WORK/r6"
expect_msg "Hint: config keys are set with --set KEY=VALUE (e.g. --set train.steps=3"
# A checkpoint of another model in the run directory: the hint says to move it, not only --fresh.
cp -r "$WORK/run" "$WORK/r7"
"$MOR" train --config "$WORK/tiny.yaml" --set model.d_ff=64 --set train.steps=8 --run-dir "$WORK/other_run" --quiet >/dev/null
cp "$WORK/other_run/ckpt-00000008.h5" "$WORK/r7/"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set train.steps=10 --run-dir "$WORK/r7"
expect_msg "ckpt-00000008.h5: written for a different model: model.d_ff (checkpoint 64, config 128)"
expect_msg "move it out of $WORK/r7 and the newest checkpoint before it is used"
echo "input consistency: ok"
