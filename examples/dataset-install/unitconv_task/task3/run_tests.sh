#!/bin/bash
# Runs one feature's tests against a checkout on the host:
#   run_tests.sh <repo_path> <test_patch> [feature_patch]
# The checkout should be at the base commit (see setup.sh); it is restored on exit.
# Nothing is installed: $PYTHON, else the python (or python3) first on PATH, must have
# pytest. The exit code is pytest's.

set -e

# Cleanup function
cleanup() {
    echo "CLEANING_UP: Restoring repository to original state..."
    if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
        git reset --hard HEAD 2>/dev/null || true
        git clean -fdx 2>/dev/null || true
        echo "CLEANUP: Repository restored to clean state"
    fi
}

# Get and validate input params
usage() {
    echo "Usage: $0 <repo_path> <test_patch> [feature_patch]"
    exit 1
}

REPO_PATH="$1"
TEST_PATCH="$2"
FEATURE_PATCH="$3"

[[ -z "$REPO_PATH" || -z "$TEST_PATCH" ]] && usage
[[ ! -d "$REPO_PATH" ]] && { echo "ERROR: Repository not found at $REPO_PATH"; exit 1; }
[[ ! -f "$TEST_PATCH" ]] && { echo "ERROR: Test patch not found at $TEST_PATCH"; exit 1; }
if [[ -n "$FEATURE_PATCH" && ! -f "$FEATURE_PATCH" ]]; then
    echo "ERROR: Feature patch not found at $FEATURE_PATCH"
    exit 1
fi

TEST_PATCH="$(realpath "$TEST_PATCH")"
[[ -n "$FEATURE_PATCH" ]] && FEATURE_PATCH="$(realpath "$FEATURE_PATCH")"

cd "$REPO_PATH"

trap cleanup EXIT INT TERM

# Setup env
if [[ -n "$FEATURE_PATCH" ]]; then
    echo "APPLYING_FEATURE_PATCH: $FEATURE_PATCH"
    git apply --ignore-whitespace --ignore-space-change "$FEATURE_PATCH" || git apply --3way "$FEATURE_PATCH"
fi

echo "APPLYING_TEST_PATCH: $TEST_PATCH"
git apply --ignore-whitespace --ignore-space-change "$TEST_PATCH" || git apply --3way "$TEST_PATCH"

TEST_PATCH_FILE="$TEST_PATCH"

# Run the test files the test patch adds or changes (all of tests/ if it names none).
TEST_FILES=()
while IFS= read -r path; do
    case "$(basename "$path")" in
        test_*.py | *_test.py) [[ -f "$path" ]] && TEST_FILES+=("$path") ;;
    esac
done < <(sed -n 's#^+++ b/##p' "$TEST_PATCH_FILE" | sort -u)
[[ ${#TEST_FILES[@]} -eq 0 ]] && TEST_FILES=(tests/)

PYTHON="${PYTHON:-$(command -v python || command -v python3)}"

# Run the tests (no virtualenv, nothing installed)
echo "RUNNING_TESTS..."
set +e
"$PYTHON" -m pytest "${TEST_FILES[@]}" -v 2>&1
status=$?
set -e

echo "TEST_EXECUTION_COMPLETED"
exit $status
