"""Messaging URLs, the connector plugins behind them, and the compatibility import paths."""

from __future__ import annotations

import pytest

from cooperbench.errors import ConfigError, UnknownPluginError
from cooperbench.messaging import EmbeddedBus, MessageBus, MessagingConnector, parse_url, with_namespace
from cooperbench.messaging._url import redact
from cooperbench.messaging.redis_bus import RedisBus
from cooperbench.plugins import get_plugin, list_plugins


def test_the_fragment_of_a_redis_url_is_the_namespace() -> None:
    address = parse_url("redis://localhost:6379/2#run:ab12cd34")
    assert address.scheme == "redis"
    assert (address.location, address.namespace) == ("redis://localhost:6379/2", "run:ab12cd34")


def test_an_embedded_url_is_its_namespace() -> None:
    address = parse_url("embedded://myrun:1:task5:f1_f2")
    assert (address.scheme, address.namespace) == ("embedded", "myrun:1:task5:f1_f2")


def test_a_url_without_namespace_uses_default() -> None:
    assert parse_url("redis://localhost:6379").namespace == "default"
    assert parse_url("embedded://").namespace == "default"


def test_with_namespace_replaces_the_namespace() -> None:
    assert with_namespace("redis://h:6379/0#old", "new:ns") == "redis://h:6379/0#new:ns"
    assert with_namespace("redis://h:6379", "ns") == "redis://h:6379#ns"
    assert with_namespace("embedded://old", "ns") == "embedded://ns"


@pytest.mark.parametrize("url", ["localhost:6379", "", "redis://h:6379#has space", "embedded://a{b}"])
def test_malformed_urls_are_config_errors_naming_the_url(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_url(url)
    assert repr(url) in str(caught.value)


def test_an_unknown_scheme_names_the_url_and_the_installed_connectors() -> None:
    with pytest.raises(UnknownPluginError) as caught:
        MessagingConnector("agent1", ["agent1", "agent2"], "carrier-pigeon://loft#ns")
    message = str(caught.value)
    assert "carrier-pigeon://loft#ns" in message
    assert "embedded" in message and "redis" in message


def test_redact_hides_passwords() -> None:
    assert redact("redis://user:pw@h:1/0#ns") == "redis://user:***@h:1/0#ns"
    assert redact("redis://:pw@h:1") == "redis://:***@h:1"
    assert redact("redis://h:1/0#a:b@c") == "redis://h:1/0#a:b@c"


def test_buses_are_connector_plugins_of_the_core() -> None:
    assert get_plugin("connector", "redis") is RedisBus
    assert get_plugin("connector", "rediss") is RedisBus
    assert get_plugin("connector", "embedded") is EmbeddedBus
    core = {r.name: r for r in list_plugins("connector") if r.plugin == "core"}
    assert set(core) >= {"redis", "embedded"}
    assert all(r.description for r in core.values())


def test_both_buses_implement_the_message_bus_protocol() -> None:
    assert isinstance(EmbeddedBus("embedded://test:protocol"), MessageBus)
    bus = RedisBus("redis://127.0.0.1:1/0#test:protocol")  # no connection is made until a command runs
    try:
        assert isinstance(bus, MessageBus)
    finally:
        bus.close()


def test_compatibility_import_paths_resolve_to_the_core_classes() -> None:
    from cooperbench.agents.mini_swe_agent.connectors import GitConnector as CompatGit
    from cooperbench.agents.mini_swe_agent.connectors import MessagingConnector as CompatMessagingFromPackage
    from cooperbench.agents.mini_swe_agent.connectors.git import GitConnector as CompatGitModule
    from cooperbench.agents.mini_swe_agent.connectors.messaging import MessagingConnector as CompatMessaging
    from cooperbench.git_collab import GitConnector

    assert CompatMessaging is MessagingConnector is CompatMessagingFromPackage
    assert CompatGit is GitConnector is CompatGitModule
