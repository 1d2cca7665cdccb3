#!/bin/bash
# Setup script for Task 2: minicalc (CooperBench example dataset)
# Offline: the repository ships next to this script as repo.bundle.

set -e

REPO_NAME="minicalc"
BASE_COMMIT="e1f240680a494484d3995d306e131f8cd10b7e1e"
TASK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Create a directory for the repo if it doesn't exist
if [ ! -d "$REPO_NAME" ]; then
    echo "Cloning repository..."
    git clone "$TASK_DIR/repo.bundle" "$REPO_NAME"
    cd "$REPO_NAME"
else
    echo "Repository directory already exists. Using existing clone."
    cd "$REPO_NAME"
    # Make sure the base commit is present
    git fetch "$TASK_DIR/repo.bundle" main
fi

# Checkout base commit
echo "Checking out base commit: $BASE_COMMIT"
git checkout "$BASE_COMMIT"

# Create a branch for our work
git branch -D "minicalc_task2" 2>/dev/null || true
git checkout -b "minicalc_task2"

git restore .
git restore --staged .

# Nothing to install: the package is pure Python and its tests need only pytest.
