#!/bin/bash
# Setup script for Task 1: textkit (CooperBench example dataset)
# Offline: the repository ships next to this script as repo.bundle.

set -e

REPO_NAME="textkit"
BASE_COMMIT="d559f0b89e0e6c89f2100f6e71de5fe694c00423"
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
git branch -D "textkit_task1" 2>/dev/null || true
git checkout -b "textkit_task1"

git restore .
git restore --staged .

# Nothing to install: the package is pure Python and its tests need only pytest.
