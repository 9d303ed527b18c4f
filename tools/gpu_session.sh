#!/usr/bin/env bash
# One GPU session on the lent device machine: GPU test tier, kernel parity on real hardware,
# image2 benchmarks (gpucal cpu/cuda beside jwst 3.0), kernel micro-benchmarks, bitwise checks.
#
# Run from the repository root, with the wheels of what the device image lacks in .whl/
# (carried), results under $OUT:
#
#     bash tools/gpu_session.sh                      # every stage
#     bash tools/gpu_session.sh tier kernels bitwise # only these (setup and info always run)
#
# Stages, in the order they run: tier, bench3, bitwise3, kernels, bitwise, bench2, kbench, bench2x4 (correctness first;
# BUDGET_S, default 480 s, cuts the last ones short rather than overrun the device call).
# Each stage has its own timeout, logs to $OUT/logs/<stage>.log, and a failure does not stop the
# others. $OUT gets: summary.txt, logs.tar.gz, bench_image2.json, bench_image2_x4.json,
# kernels_bench.json, bitwise.json (at most 8 files come back).
set +e
export PYTHONUNBUFFERED=1 COLUMNS=160
OUT=${OUT:-/tmp/gpu_session_out}
LOGS=$OUT/logs
mkdir -p "$LOGS"
WORK=${WORK:-/tmp/gpucal_session}
mkdir -p "$WORK"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
T0=$(date +%s)

say() { echo "$*" | tee -a "$SUMMARY"; }

# ---- setup ------------------------------------------------------------------------------
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        >"$LOGS/pip.log" 2>&1
    say "wheels: rc=$? ($(ls .whl/*.whl | wc -l) wheels into /tmp/site)"
else
    say "wheels: .whl/ missing: jwst, astropy... will not import"
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
export GPUCAL_CACHE_DIR=${GPUCAL_CACHE_DIR:-$WORK/kernel_cache}
# No network there: astropy must not try to download (IERS tables come from astropy-iers-data).
mkdir -p "$WORK/xdg/astropy"
printf '[utils.data]\nallow_internet = False\n\n[utils.iers.iers]\nauto_download = False\n' >"$WORK/xdg/astropy/astropy.cfg"
export XDG_CONFIG_HOME=$WORK/xdg
# numba-cuda needs libnvvm: the image's CUDA toolkit has it when no nvidia-nvvm wheel is installed.
if [ -z "$CUDA_HOME" ] && [ -d /usr/local/cuda/nvvm ]; then export CUDA_HOME=/usr/local/cuda; fi

# ---- info (always) ----------------------------------------------------------------------
{
    echo "== nvidia-smi"; timeout 30 nvidia-smi; echo
    echo "== uname: $(uname -r), $(nproc) cores"; echo "CUDA_HOME=$CUDA_HOME"
    timeout 60 python3 -c 'import gpucal.cli, sys; print("gpucal.cli imports from", gpucal.cli.__file__, "python", sys.version.split()[0])'
    timeout 90 python3 -m gpucal.cli info
    timeout 120 python3 - <<'EOF'
import importlib.metadata as md
names = ["numpy", "numba", "numba-cuda", "cupy-cuda13x", "cuda-bindings", "cuda-core", "cuda-pathfinder", "cuda-toolkit",
         "nvidia-cuda-nvrtc", "nvidia-nvvm", "scipy", "astropy", "gwcs", "asdf", "stdatamodels", "jwst", "stcal",
         "stpipe", "crds", "drizzle", "pytest", "pytest-benchmark", "hypothesis"]
found = []
for n in names:
    try:
        found.append(f"{n} {md.version(n)}")
    except md.PackageNotFoundError:
        pass
print("versions:", ", ".join(found))
try:
    from cuda.pathfinder import load_nvidia_dynamic_lib as load
    for lib in ("nvvm", "nvrtc"):
        try:
            print(f"{lib}:", load(lib).abs_path)
        except Exception as exc:
            print(f"{lib}: NOT FOUND ({str(exc).splitlines()[0][:160]})")
except Exception as exc:
    print("cuda.pathfinder:", exc)
import os, time
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "0")
from numba import cuda
import numpy as np
t = time.perf_counter()
@cuda.jit
def add_one(x):
    i = cuda.grid(1)
    if i < x.size:
        x[i] += 1
x = cuda.to_device(np.zeros(1000, np.float32))
add_one[4, 256](x)
print("numba.cuda probe:", "ok" if x.copy_to_host().sum() == 1000 else "WRONG", f"({time.perf_counter() - t:.2f} s)",
      cuda.get_current_device().name, "cc", cuda.get_current_device().compute_capability)
EOF
} >"$LOGS/info.log" 2>&1
INFO_RC=$?
cat "$LOGS/info.log"
say "device: $(timeout 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)"
say "$(grep -m1 '^versions:' "$LOGS/info.log")"
say "$(grep -m1 'numba.cuda probe' "$LOGS/info.log" || echo 'numba.cuda probe: FAILED (see info.log)')"
say "$(grep -m1 '^nvvm:' "$LOGS/info.log")"
say "info: rc=$INFO_RC"

# ---- stages -----------------------------------------------------------------------------
ALL="tier bench3 bitwise3 kernels bitwise bench2 kbench bench2x4"
# Sizes and devices (overridable, e.g. for a dry run without a GPU: BW_RUNS=cpu,cpu BW_SIZE=256 B2_SIZE=256).
B2_SIZE=${B2_SIZE:-2048}
B2_DEVICES=${B2_DEVICES:-cpu,cuda}
BW_SIZE=${BW_SIZE:-2048}
BW_RUNS=${BW_RUNS:-cuda,cuda,cpu}
KB_DEVICE=${KB_DEVICE:-cuda}
STAGES=${*:-$ALL}
declare -A RC SECS
ORDER=()

# Whole-script deadline (seconds from the start): each stage's timeout is cut to what is left, and a
# stage with under 30 s left is skipped (rc=skip), so the script ends inside the device call's limit.
BUDGET_S=${BUDGET_S:-550}

stage() {  # stage NAME TIMEOUT_S COMMAND...
    local name=$1 limit=$2
    shift 2
    case " $STAGES " in *" $name "*) ;; *) return ;; esac
    local left=$((BUDGET_S - ($(date +%s) - T0)))
    ORDER+=("$name")
    if [ "$left" -lt 30 ]; then
        RC[$name]=skip; SECS[$name]=0
        echo "======== $name: skipped, ${left}s left of BUDGET_S=$BUDGET_S" | tee "$LOGS/$name.log"
        return
    fi
    [ "$left" -lt "$limit" ] && limit=$left
    echo; echo "======== $name (timeout ${limit}s): $*"
    local start=$(date +%s)
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
    RC[$name]=${PIPESTATUS[0]}
    SECS[$name]=$(($(date +%s) - start))
    echo "======== $name: rc=${RC[$name]} in ${SECS[$name]}s"
}

# (a) the GPU test tier: real-hardware tests (skipped without a GPU). Since issue 9 it also runs jwst 3.0 (image2
# and image3) beside the CUDA runs, about twice the work of the first tier: give it 400 s.
# -n 0: in this process with every core's numba threads (the suite's default, -n auto, would start workers).
stage tier 400 python3 -m pytest tests/gpu -m gpu -q -p no:cacheprovider --durations=5 -n 0

# (b2) image3 benchmark: 4 full-frame exposures, gpucal cpu and cuda beside jwst 3.0 (whole processes, peak RSS).
B3_SIZE=${B3_SIZE:-2048}
stage bench3 200 python3 bench/bench_image3.py --size "$B3_SIZE" --exposures 4 --devices "$B2_DEVICES" --folder "$WORK/b3" \
    --json "$OUT/bench_image3.json"

# (b3) image3 bitwise: the same 4 _cal files through image3 on cuda twice (bit for bit) and on cpu (reported).
stage bitwise3 120 python3 tools/gpu_bitwise3.py "$WORK/b3/cal_4x$B3_SIZE/image3_asn.json" --folder "$WORK/bw3" \
    --json "$OUT/bitwise3.json"
rm -rf "$WORK/b3" "$WORK/bw3"

# (b) kernel parity and engine tests: CUDA forms on the real GPU (tests/conftest.py picks it), PTX tier.
# Numba compiles each kernel form single-threaded (most of this stage's time): pytest-xdist workers (in the
# device image) compile in parallel, test by test (--dist load, not the suite's file by file: test_parity.py is most
# of it); KERNELS_WORKERS=0 runs it in one process.
KERNELS_WORKERS=${KERNELS_WORKERS:-4}
XDIST=(-n 0)
if [ "$KERNELS_WORKERS" -gt 1 ] && python3 -c 'import xdist' 2>/dev/null; then XDIST=(-n "$KERNELS_WORKERS" --dist load); fi
KERNEL_TESTS=${KERNEL_TESTS:-tests/kernels/test_parity.py tests/kernels/test_blot.py tests/engine}
stage kernels 200 python3 -m pytest $KERNEL_TESTS -q -p no:cacheprovider --durations=10 "${XDIST[@]}"


# (c) bitwise: cuda twice (separate processes) must match bit for bit; cuda vs cpu reported.
stage bitwise 150 python3 tools/gpu_bitwise.py --runs "$BW_RUNS" --size "$BW_SIZE" --folder "$WORK/bw" \
    --json "$OUT/bitwise.json"
rm -rf "$WORK/bw"

# (d) image2 benchmark, gpucal cpu and cuda beside jwst 3.0 (run offline by tests/jwst_offline.py).
stage bench2 150 python3 bench/bench_image2.py --size "$B2_SIZE" --devices "$B2_DEVICES" --repeat 1 --folder "$WORK/b2" \
    --json "$OUT/bench_image2.json"
rm -rf "$WORK/b2"

# (e) kernel micro-benchmarks, CUDA forms (inputs on the device).
stage kbench 150 env GPUCAL_BENCH_DEVICE="$KB_DEVICE" python3 -m pytest bench --benchmark-only -q -p no:cacheprovider \
    --benchmark-json="$OUT/kernels_bench.json" --benchmark-columns=min,median,mean,stddev,rounds

# (f) the dither set: 4 exposures in one association, one warm process per pipeline (most expensive: last).
stage bench2x4 180 python3 bench/bench_image2.py --size "$B2_SIZE" --devices "$B2_DEVICES" --repeat 1 --exposures 4 --folder "$WORK/b2x4" \
    --json "$OUT/bench_image2_x4.json"
rm -rf "$WORK/b2x4"

# ---- summary ----------------------------------------------------------------------------
{
    echo
    echo "== stages (rc 124 = timed out)"
    for name in "${ORDER[@]}"; do printf '  %-9s rc=%-4s %4ss\n' "$name" "${RC[$name]}" "${SECS[$name]}"; done
    echo
    for name in "${ORDER[@]}"; do
        log=$LOGS/$name.log
        case $name in
            tier|kernels)
                echo "-- $name:"; grep -E '^(FAILED|ERROR) |[0-9]+ (passed|failed|error)|^SKIPPED' "$log" | head -25 ;;
            bench3)
                echo "-- $name:"; grep -E '^( +[0-9]+ |#)|Error|error:' "$log" | head -20 ;;
            bitwise3)
                echo "-- $name:"; grep -E '^(##)|DIFFERENT|Error|error' "$log" | head -20 ;;
            bench2|bench2x4)
                echo "-- $name:"; grep -E '^(# cpu|# step|gpucal|jwst|# gpucal)|Error|error:' "$log" | head -20 ;;
            kbench)
                echo "-- $name:"; grep -E '^(Name|test_|-{10})|passed|failed|error' "$log" | head -20 ;;
            bitwise)
                echo "-- $name:"; grep -E '^(#|##|###)|DIFFERENT|Error|error' "$log" | head -40 ;;
        esac
    done
    echo
    echo "total: $(($(date +%s) - T0)) s"
} | tee -a "$SUMMARY"

tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$LOGS"
ls -la "$OUT"
