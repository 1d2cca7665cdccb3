"""The parts built on ``openhands-sdk``; importing this package loads the SDK.

The SDK reads some environment variables once, when it is first imported, so they are
set here, before it is (each only when the user has not set it):

- ``LITELLM_LOCAL_MODEL_COST_MAP=True``: LiteLLM uses the price map shipped with it
  instead of downloading one at start-up (runs must not need the network to start);
- ``OPENHANDS_SUPPRESS_BANNER=1``: no banner on the harness's stderr;
- ``LOG_AUTO_CONFIG=false`` while the SDK loads: the SDK would otherwise reconfigure the
  root logger (level and a console handler) of the whole harness process.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENHANDS_SUPPRESS_BANNER", "1")
_set_here = "LOG_AUTO_CONFIG" not in os.environ
if _set_here:
    os.environ["LOG_AUTO_CONFIG"] = "false"
try:
    import openhands.sdk  # noqa: F401  (loaded now, while the variables above are in place)
finally:
    if _set_here:
        del os.environ["LOG_AUTO_CONFIG"]
