# Shared by .ci/run and scripts/test-*: one summary line per test environment, and retries
# for downloads (never for tests). Source it; it defines functions only.

# retry ATTEMPTS COMMAND...: run COMMAND up to ATTEMPTS times, 10 s, 20 s... apart. For
# downloads only (debootstrap, apt-get, pip install from an index): a test is never retried.
retry() {
  local attempts=$1 n=1
  shift
  until "$@"; do
    if [ "$n" -ge "$attempts" ]; then
      echo "gave up after $attempts attempts: $*" >&2
      return 1
    fi
    echo "attempt $n of $attempts failed, retrying in $((n * 10)) s: $*" >&2
    sleep $((n * 10))
    n=$((n + 1))
  done
}

# run_suite NAME LOG COMMAND...: run a pytest COMMAND, its output to the terminal and to LOG,
# and record one summary line for NAME ("python3.13: 1878 passed in 190s"). Returns non-zero
# when pytest does, exit code 5 (no tests collected) included.
run_suite() {
  local name=$1 log=$2 started rc tally errexit=$-
  shift 2
  started=$(date +%s)
  set +e
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  case $errexit in *e*) set -e ;; esac
  # pytest's last line: "1878 passed, 2 skipped in 190.12s (0:03:10)", maybe in "=" rules.
  tally=$(grep -E '^=*.*[0-9]+ (passed|failed|error|errors|skipped|deselected)|no tests ran' "$log" \
    | tail -n 1 | sed -E 's/^=+ //; s/ =+$//; s/ in [0-9.]+s.*$//')
  tally=${tally:-no pytest summary}
  if [ "$rc" -eq 0 ]; then
    summary_line "$name: $tally in $(( $(date +%s) - started ))s"
  else
    summary_line "$name: FAILED (pytest exit $rc: $tally) in $(( $(date +%s) - started ))s"
  fi
  return "$rc"
}

# summary_line TEXT: print TEXT now and append it to $SUMMARY_FILE (when set), so .ci/run
# can print every environment's line together at the end.
summary_line() {
  echo "== $1"
  if [ -n "${SUMMARY_FILE:-}" ]; then
    echo "$1" >> "$SUMMARY_FILE"
  fi
}
