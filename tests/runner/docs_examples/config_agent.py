# The "Agent configuration" example of the custom-agents documentation ("Access in your agent"),
# with the agent choosing its Environment by `config["backend"]` as the documented YAML
# (`backend: modal`) shows it: a backend name. Its result reports what it read.
from cooperbench.agents import AgentResult
from cooperbench.agents.registry import register

ENVIRONMENTS = {
    "local": "cooperbench.agents.mini_swe_agent.environments.local:LocalEnvironment",
    "docker": "cooperbench.agents.mini_swe_agent.environments.docker:DockerEnvironment",
    "modal": "cooperbench.agents.mini_swe_agent.environments.modal:ModalEnvironment",
}


@register("config_agent")
class ConfigAgent:
    def run(self, task: str, image: str, *, config: dict | None = None, **kwargs):
        if config:
            max_iterations = config.get("agent", {}).get("max_iterations", 30)
            temperature = config.get("agent", {}).get("temperature", 0.2)
        backend = config.get("backend", "local")
        module, _, name = ENVIRONMENTS[backend].partition(":")  # a dict here: TypeError, unhashable
        import importlib

        env = getattr(importlib.import_module(module), name)(image=image, cwd="/workspace/repo", timeout=600)
        env.execute("echo ok")
        env.cleanup()
        return AgentResult(
            status="Submitted",
            patch="",
            cost=0.0,
            steps=1,
            messages=[{"backend": backend, "max_iterations": max_iterations, "temperature": temperature,
                       "backend_options": config.get("backend_options")}],
            error=None,
        )
