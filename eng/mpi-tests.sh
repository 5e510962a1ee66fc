#!/usr/bin/env bash
# The distributed checks (tests/VectorFit.Distributed.Tests) as 2 MPI ranks on this machine, over loopback / shared memory:
#   cases    the collective checks (exact all-reduce, identical parameters, 2 x half batch = 1 x full batch, root-only writes, ...)
#   hang     rank 1 stops answering: rank 0 must abort the job after its 3 s timeout with a clear message
#   kill     rank 1 is killed (SIGKILL): the job must end, non-zero, with a clear message on the other rank
#   missing  no MPI library: a clear error naming the apt packages, and MPI still initialises afterwards
#   sample   the GLUE sample (samples/GlueFineTune) with --distributed as 2 ranks on a tiny BERT and 45 sentences: one set of
#            outputs, the adapter equal to a 1-process run's, an interrupted run resumed to the same adapter
# With both Open MPI and MPICH installed, the cases also run under the other one. Ends with "distributed: N passed, M failed"
# and exits non-zero when a check failed. Without mpirun it says how to install it and reports 0 checks (.ci/run installs Open MPI).
#
#   eng/mpi-tests.sh [--no-build] [-p:Name=Value ...]        (CONFIGURATION=Release by default)
set -uo pipefail
cd "$(dirname "$0")/.."
configuration=${CONFIGURATION:-Release}
build=true props=()
for arg in "$@"; do
  case "$arg" in
    --no-build) build=false ;;
    *) props+=("$arg") ;;
  esac
done

project=tests/VectorFit.Distributed.Tests
passed=0 failed=0
summary() { echo "distributed: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
verdict() {  # verdict <ok: true|false> <name> [detail]
  if $1; then passed=$((passed + 1)); echo "PASS $2"; else failed=$((failed + 1)); echo "FAIL $2${3:+: $3}"; fi
}

if ! command -v mpirun >/dev/null 2>&1; then
  echo "distributed: mpirun not found, checks not run; install Open MPI (apt-get install openmpi-bin libopenmpi-dev) or MPICH (apt-get install mpich)"
  summary
fi

if $build; then
  for built in "$project" samples/GlueFineTune; do
    dotnet build "$built" -c "$configuration" "${props[@]}" -nologo -v:minimal -clp:NoSummary || { failed=1; echo "FAIL building $built"; summary; }
  done
fi
program=("dotnet" "$project/bin/$configuration/net10.0/VectorFit.Distributed.Tests.dll")

# launcher <mpirun command>: the arguments for 2 ranks on this machine, loopback only.
launcher() {
  if "$1" --version 2>&1 | grep -q "Open MPI"; then
    local args=("$1" -np 2 --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none --mca oob_tcp_if_include lo)
    [ "$(id -u)" -eq 0 ] && args+=(--allow-run-as-root)
    echo "${args[@]}"
  else
    echo "$1" -np 2 -iface lo
  fi
}

export VF_MPI_TEST_DIR
VF_MPI_TEST_DIR=$(mktemp -d)
trap 'rm -rf "$VF_MPI_TEST_DIR"' EXIT
out=$VF_MPI_TEST_DIR/out.txt
clean() { sed -i 's/\x1b\[?1h\x1b=//g' "$out"; }  # the terminal-mode escape .NET writes when stdout is not a terminal

run_cases() {  # run_cases <mpirun command> <label>
  local rc=0 p f
  # shellcheck disable=SC2046
  timeout 90 $(launcher "$1") "${program[@]}" cases >"$out" 2>&1 || rc=$?
  clean
  grep -E '^(PASS|FAIL|cases|rank [0-9]+: (FAIL|max))' "$out" | sed "s/^/[$2] /"
  if read -r p f < <(sed -n 's/^cases: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$out"); then
    passed=$((passed + p)) failed=$((failed + f))
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && verdict false "[$2] cases exit status" "rc $rc"
  else
    verdict false "[$2] cases" "no summary (rc $rc); output:"
    tail -30 "$out"
  fi
}

run_fault() {  # run_fault <mode> <name> <pattern of the expected message>
  local rc=0 started=$SECONDS elapsed
  # shellcheck disable=SC2046
  timeout 90 $(launcher mpirun) "${program[@]}" "$1" >"$out" 2>&1 || rc=$?
  clean
  elapsed=$((SECONDS - started))
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$elapsed" -lt 60 ] && grep -qE "$3" "$out"; then
    verdict true "$2 (ended with status $rc after $elapsed s)"
    grep -E "$3" "$out" | head -2 | sed 's/^/    /'
  else
    verdict false "$2" "status $rc after $elapsed s; output:"
    tail -20 "$out"
  fi
}

echo "==> distributed checks: $(mpirun --version 2>&1 | head -1)"
run_cases mpirun "$(mpirun --version 2>&1 | grep -q 'Open MPI' && echo openmpi || echo mpich)"
run_fault hang "a hung rank makes the other abort the job after the 3 s timeout" "did not complete within 3 s"
run_fault kill "a killed rank ends the run with a clear error on the other" \
  "was terminated by the MPI launcher|did not complete within|exited on signal 9|BAD TERMINATION"

rc=0
timeout 60 "${program[@]}" missing >"$out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] && grep -q '^PASS' "$out"; then
  verdict true "a missing MPI library gives a clear error naming the apt packages, and nothing is half-initialised"
else
  verdict false "missing MPI library" "status $rc; output:"
  tail -10 "$out"
fi

# The GLUE sample, data-parallel: 2 ranks x their half of every batch of 8 against 1 process x the whole batch (45 examples:
# the last batch of each epoch is 5 rows, split 3 + 2, so the length-weighted loss is exercised), 3 epochs, AVF freezing 2 vectors
# per epoch. Dropout is 0 in this model, so the two runs take the same steps up to float32 round-off: every adapter tensor within
# 1e-5 (observed: about 2e-7, rounding of sums taken in another order, over 18 AdamW steps; a wrong average or a lost row moves
# values by about lr = 1e-2), except the attention key biases. Their gradient is zero in exact arithmetic (softmax ignores a shift
# of all keys), so what the ranks sum is rounding noise, which AdamW divides by its own size and turns into steps of about lr
# that differ between any two ways of summing a batch; they change no output. The dev metrics and AVF's frozen vectors must be
# identical and the train losses within 1e-6. Then a 2-rank run stopped on rank 0 alone after step 8 (Ctrl+C, agreed by
# both ranks), resumed by both ranks from the one checkpoint, must end with the uninterrupted 2-rank run's adapter, bit for bit.
losses() { grep -o '"train_loss": [-0-9.eE+]*' "$1/metrics.json" | cut -d' ' -f2; }
sample_check() {
  local dir=$VF_MPI_TEST_DIR/sample started=$SECONDS rc=0 glue=("dotnet" "samples/GlueFineTune/bin/$configuration/net10.0/GlueFineTune.dll")
  local run=(--train "$dir/train.csv" --dev "$dir/dev.csv" --model "$dir/model" --epochs 3 --batch-size 8 --lr 1e-2 --max-length 16
             --pooling cls --avf-start-epoch 1 --avf-every-epochs 1 --k 2)
  mkdir -p "$dir"
  "${program[@]}" sample-data "$dir" >"$out" 2>&1 || { verdict false "GLUE sample: test data" "$(tail -5 "$out")"; return; }
  timeout 60 "${glue[@]}" "${run[@]}" --output "$dir/one" --threads 1 >"$out" 2>&1 || { verdict false "GLUE sample: 1-process run" "$(tail -5 "$out")"; return; }
  # shellcheck disable=SC2046
  timeout 60 $(launcher mpirun) "${glue[@]}" "${run[@]}" --output "$dir/two" --distributed >"$out" 2>&1 || rc=$?
  clean
  local files; files=$(cd "$dir/two" && find . -type f | sort | tr '\n' ' ')
  local lines; lines=$(grep -c '^epoch [0-9]*: train loss' "$out")
  if [ "$rc" -eq 0 ] && [ "$lines" -eq 3 ] && [ "$files" = "$(cd "$dir/one" && find . -type f | sort | tr '\n' ' ')" ]; then
    verdict true "GLUE sample --distributed, 2 ranks: exit 0, one log (3 epoch lines), rank 0's outputs only: $files"
  else
    verdict false "GLUE sample --distributed, 2 ranks" "status $rc, $lines epoch lines, files: $files; output:"
    tail -20 "$out"
    return
  fi
  if "${program[@]}" compare-adapters "$dir/one/adapter.safetensors" "$dir/two/adapter.safetensors" 1e-5 attention.self.key.bias >"$out" 2>&1 \
     && diff <(grep -vE '"(train_loss|elapsed_seconds)"' "$dir/one/metrics.json") <(grep -vE '"(train_loss|elapsed_seconds)"' "$dir/two/metrics.json") >/dev/null \
     && paste <(losses "$dir/one") <(losses "$dir/two") | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-6) bad = 1 } END { exit bad }'; then
    verdict true "GLUE sample: 2 ranks x half batch = 1 process x whole batch (adapter within 1e-5; same dev metrics and frozen vectors)"
  else
    verdict false "GLUE sample: 2 ranks against 1 process"
  fi
  sed 's/^/    /' "$out"
  rc=0
  # shellcheck disable=SC2046
  GLUEFINETUNE_STOP_AFTER_STEP=8 timeout 60 $(launcher mpirun) "${glue[@]}" "${run[@]}" --output "$dir/resumed" --distributed >"$out" 2>&1 || rc=$?
  # shellcheck disable=SC2046
  [ "$rc" -eq 130 ] && grep -q 'interrupted at step 8/18' "$out" \
    && timeout 60 $(launcher mpirun) "${glue[@]}" "${run[@]}" --output "$dir/resumed" --distributed --resume >"$out" 2>&1 \
    && grep -q 'resumed from .* at step 8' "$out" \
    && "${program[@]}" compare-adapters "$dir/two/adapter.safetensors" "$dir/resumed/adapter.safetensors" 0 >"$out" 2>&1
  verdict "$([ $? -eq 0 ] && echo true || echo false)" "GLUE sample: stopped on rank 0 after step 8 (status $rc), resumed by 2 ranks: the uninterrupted run's adapter ($((SECONDS - started)) s for the sample checks)"
  sed 's/^/    /' "$out" | tail -5
}
sample_check

# The other implementation, when installed too.
for other in mpirun.mpich mpirun.openmpi; do
  if command -v "$other" >/dev/null && [ "$(readlink -f "$(command -v "$other")")" != "$(readlink -f "$(command -v mpirun)")" ]; then
    case "$other" in *mpich) export VECTORFIT_MPI_LIBRARY=libmpich.so.12 ;; *) export VECTORFIT_MPI_LIBRARY=libmpi.so.40 ;; esac
    run_cases "$other" "${other#mpirun.}"
    unset VECTORFIT_MPI_LIBRARY
  fi
done

summary
