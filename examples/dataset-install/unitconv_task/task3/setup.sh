#!/bin/bash
# Setup script for Task 3: unitconv (CooperBench example dataset)
# Offline: the repository ships next to this script as repo.bundle.

set -e

REPO_NAME="unitconv"
BASE_COMMIT="6b95c2bc12124fde0d9169766aac7148b027462b"
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
git branch -D "unitconv_task3" 2>/dev/null || true
git checkout -b "unitconv_task3"

git restore .
git restore --staged .

# runner.sh installs the package and its test tools (pip) before each test run.
