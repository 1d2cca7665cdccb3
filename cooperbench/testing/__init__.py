"""Test support shipped with CooperBench, for the core's tests and for plugin distributions.

- :mod:`cooperbench.testing.conformance`: the backend conformance suite (``BackendConformance``)
  a backend distribution subclasses in a few lines; needs ``pytest``.
- :mod:`cooperbench.testing.fake_backend`: an in-process backend without isolation that passes
  the suite, for testing the suite itself and code that drives backends.
- :mod:`cooperbench.testing.llm_server`: an OpenAI-compatible server answering from a script.
- :mod:`cooperbench.testing.redis_server`: a throwaway ``redis-server`` on a free port.

Nothing is imported here, so ``import cooperbench.testing`` costs nothing and needs no pytest.
"""
