#!/bin/bash
# Runs one feature's tests inside the task image:
#   docker run -v "$(pwd):/patches" <image> <test_patch> [feature_patch]
# Both patches are file names inside /patches. The repository at /workspace/repo is
# restored to its base commit on exit. The package and its test tools are installed first (pip).
# The exit code is pytest's.

set -e

# Cleanup function
cleanup() {
    echo "Cleaning up repository..."
    if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
        git reset --hard HEAD 2>/dev/null || true
        git clean -fdx 2>/dev/null || true
        echo "Repository cleaned."
    fi
}

trap cleanup EXIT INT TERM

# Get input params
TEST_PATCH="$1"
FEATURE_PATCH="$2"

if [[ -z "$TEST_PATCH" ]]; then
    echo "Usage: docker run -v \$(pwd):/patches <image> <test_patch> [feature_patch]"
    exit 1
fi

cd /workspace/repo

# Ensure we start with a clean state
echo "Ensuring clean repository state..."
git reset --hard HEAD
git clean -fdx

# Apply feature patch if provided
if [[ -n "$FEATURE_PATCH" ]]; then
    echo "Applying feature patch: $FEATURE_PATCH"
    if [[ -f "/patches/$FEATURE_PATCH" ]]; then
        git apply --ignore-whitespace --ignore-space-change "/patches/$FEATURE_PATCH" \
            || git apply --3way "/patches/$FEATURE_PATCH"
        echo "Feature patch applied successfully."
    else
        echo "Error: Feature patch not found at /patches/$FEATURE_PATCH"
        exit 1
    fi
fi

# Apply test patch
echo "Applying test patch: $TEST_PATCH"
if [[ -f "/patches/$TEST_PATCH" ]]; then
    git apply --ignore-whitespace --ignore-space-change "/patches/$TEST_PATCH" \
        || git apply --3way "/patches/$TEST_PATCH"
    echo "Test patch applied successfully."
else
    echo "Error: Test patch not found at /patches/$TEST_PATCH"
    exit 1
fi

TEST_PATCH_FILE="/patches/$TEST_PATCH"

# Run the test files the test patch adds or changes (all of tests/ if it names none).
TEST_FILES=()
while IFS= read -r path; do
    case "$(basename "$path")" in
        test_*.py | *_test.py) [[ -f "$path" ]] && TEST_FILES+=("$path") ;;
    esac
done < <(sed -n 's#^+++ b/##p' "$TEST_PATCH_FILE" | sort -u)
[[ ${#TEST_FILES[@]} -eq 0 ]] && TEST_FILES=(tests/)

# Install dependencies (SYSTEM PYTHON)
echo "Installing dependencies..."
pip install -e ".[test]" || pip install -e .
pip install pytest pytest-xdist pytest_mock

# Use the python first on PATH (python3 when there is no python)
PYTHON="$(command -v python || command -v python3)"

# Run tests
echo "Running tests..."
set +e
"$PYTHON" -m pytest "${TEST_FILES[@]}" -v
status=$?
set -e

echo "Test execution completed!"
exit $status
