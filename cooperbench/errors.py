"""Exception types of CooperBench.

Every error the harness reports to a user is one of these; its message names the thing
that went wrong, where it is, and what to do next.
"""

from __future__ import annotations

__all__ = [
    "BrokenPluginError",
    "ConfigError",
    "CooperBenchError",
    "DatasetError",
    "DuplicatePluginError",
    "InfraError",
    "RunAborted",
    "SandboxError",
    "SandboxTimeout",
    "UnknownPluginError",
]


class CooperBenchError(Exception):
    """Base class of every error CooperBench raises on purpose."""


class ConfigError(CooperBenchError):
    """A configuration file, option or environment variable is invalid."""


class DatasetError(CooperBenchError):
    """The dataset on disk is malformed; the message names the offending path."""


class UnknownPluginError(CooperBenchError, LookupError):
    """No plugin of that kind is registered under that name."""


class DuplicatePluginError(CooperBenchError):
    """Two distributions register the same name for the same kind of plugin."""


class BrokenPluginError(CooperBenchError):
    """A plugin failed to load or to register; the message holds the original error."""


class InfraError(CooperBenchError):
    """An infrastructure failure (sandbox, network, Redis, LLM provider) rather than an agent's fault.

    The runner records a pair that ends in one as ``infra_error`` and a resumed run retries it.
    """


class SandboxError(InfraError):
    """A sandbox could not be created, reached, or cleaned up."""


class SandboxTimeout(SandboxError):
    """A sandbox operation exceeded its time limit."""


class RunAborted(InfraError):
    """A run stopped part-way because its results cannot be written (a full disk, a read-only folder).

    What was written before stays intact; running the same command again resumes.
    """
