"""Message fault injection: ``--messaging-faults drop=0.2,delay=3,duplicate=0.05,seed=7``.

The harness's bus applies the faults when a message reaches its recipient, so every agent
framework sees them the same way:

- ``drop=P``: each message is lost with probability ``P`` (never delivered);
- ``delay=N``: each message is held back until the receiver has taken ``N`` more steps
  (an agent that never reports its step counts its receive calls instead);
- ``duplicate=P``: each delivered message is delivered a second time, one receiver step later,
  with probability ``P``;
- ``seed=S``: the random seed (default 0). Decisions depend only on the seed, the sender, the
  recipient and the message's position among the sender's messages to that recipient, so two
  runs with the same seed whose agents send the same messages inject the same faults.

Every injected fault is recorded on the message's ledger entry (``faults``). Harness notices
and status events are never faulted.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from cooperbench.errors import ConfigError

__all__ = ["MessageFaults", "parse_faults"]

_KEYS = ("drop", "delay", "duplicate", "seed")


@dataclass(frozen=True)
class MessageFaults:
    """The faults a bus injects into messages between agents.

    Attributes:
        drop: probability that a message is lost (0..1).
        delay: receiver steps every message waits before it is delivered (>= 0).
        duplicate: probability that a delivered message is delivered again (0..1).
        seed: the random seed of the decisions.
    """

    drop: float = 0.0
    delay: int = 0
    duplicate: float = 0.0
    seed: int = 0

    @property
    def active(self) -> bool:
        """Whether any fault can be injected."""
        return self.drop > 0 or self.delay > 0 or self.duplicate > 0

    def decide(self, sender: str, recipient: str, position: int) -> tuple[bool, bool]:
        """Whether the ``position``-th message (from 1) of ``sender`` to ``recipient`` is dropped, and duplicated."""
        digest = hashlib.sha256(f"{self.seed}|{sender}|{recipient}|{position}".encode()).digest()
        rng = random.Random(digest)
        # Both draws always happen, so one probability never shifts the other's decisions.
        dropped, duplicated = rng.random() < self.drop, rng.random() < self.duplicate
        return dropped, duplicated and not dropped

    def spec(self) -> str:
        """The canonical option string (``drop=0.2,delay=3,duplicate=0.05,seed=7``), non-zero faults only."""
        parts = [f"drop={self.drop:g}"] if self.drop else []
        parts += [f"delay={self.delay}"] if self.delay else []
        parts += [f"duplicate={self.duplicate:g}"] if self.duplicate else []
        return ",".join([*parts, f"seed={self.seed}"])

    def as_dict(self) -> dict[str, Any]:
        """As recorded in ``config.json`` and in the bus's configuration."""
        return {"drop": self.drop, "delay": self.delay, "duplicate": self.duplicate, "seed": self.seed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MessageFaults:
        """The inverse of :meth:`as_dict`."""
        return cls(
            drop=float(data.get("drop", 0)),
            delay=int(data.get("delay", 0)),
            duplicate=float(data.get("duplicate", 0)),
            seed=int(data.get("seed", 0)),
        )


def parse_faults(text: str | None, *, where: str = "--messaging-faults") -> MessageFaults | None:
    """Parse ``drop=0.2,delay=3,duplicate=0.05,seed=7`` (any subset, any order).

    Without ``seed`` the seed is 0, so a run resumed with the same option injects the same faults.

    Returns:
        ``None`` for ``None``/empty text, else the faults.

    Raises:
        ConfigError: an unknown key, a repeated key, a malformed value, or a value out of
            range; the message names ``where`` and the offending part.
    """
    if text is None or not text.strip():
        return None
    values: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or not value.strip():
            raise ConfigError(
                f"{where}: {part!r} is not key=value; expected e.g. drop=0.2,delay=3,duplicate=0.05,seed=7"
            )
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown fault {key!r}; expected one of {', '.join(_KEYS)}")
        if key in values:
            raise ConfigError(f"{where}: {key!r} is given twice")
        values[key] = value.strip()

    def probability(key: str) -> float:
        try:
            value = float(values.get(key, "0"))
        except ValueError:
            raise ConfigError(f"{where}: {key}={values[key]!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{where}: {key}={values[key]} must be a probability between 0 and 1")
        return value

    def integer(key: str, default: str) -> int:
        try:
            value = int(values.get(key, default))
        except ValueError:
            raise ConfigError(f"{where}: {key}={values[key]!r} is not a whole number") from None
        if value < 0:
            raise ConfigError(f"{where}: {key}={value} must be >= 0")
        return value

    return MessageFaults(
        drop=probability("drop"),
        delay=integer("delay", "0"),
        duplicate=probability("duplicate"),
        seed=integer("seed", "0"),
    )
