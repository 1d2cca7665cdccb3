"""Which registry digest says where an image came from, when its id carries several."""

from __future__ import annotations

from cooperbench_backend_docker._images import registry_digest

OTHER = "127.0.0.1:40739/cbtest-88d9ea-textkit@sha256:" + "c" * 64
OWN = "127.0.0.1:45575/cbtest-33d0b5-textkit@sha256:" + "c" * 64


def test_the_digest_of_the_images_own_repository_is_chosen_whatever_the_order():
    name = "127.0.0.1:45575/cbtest-33d0b5-textkit:task1"
    assert registry_digest(name, [OTHER, OWN]) == OWN
    assert registry_digest(name, [OWN, OTHER]) == OWN


def test_names_without_a_registry_port_or_tag_and_images_without_digests():
    assert registry_digest("akhatua/cooperbench-textkit", ["akhatua/cooperbench-textkit@sha256:" + "a" * 64]) == (
        "akhatua/cooperbench-textkit@sha256:" + "a" * 64
    )
    assert registry_digest("local-only:task1", []) is None
    # a loaded or re-tagged image whose digests are all of other repositories: the first is still its origin
    assert registry_digest("mine:task1", [OTHER]) == OTHER
