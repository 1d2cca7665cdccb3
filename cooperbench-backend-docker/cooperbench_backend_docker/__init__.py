"""Docker sandboxes for CooperBench.

The backend lives in :mod:`cooperbench_backend_docker.backend` (``DockerBackend``) and the
agent-facing Environment in :mod:`cooperbench_backend_docker.environment`; this package's
``__init__`` stays empty so that loading the plugin does not import the docker SDK.
"""
