"""The working-group catalogue: the bundled file loads, a malformed one says where."""

from __future__ import annotations

import pytest

from provisioner.catalogue import CatalogueError, load_catalogue


def test_the_bundled_catalogue_loads_with_derived_names():
    catalogue = load_catalogue()
    kitchen = catalogue.get("kitchen")
    assert len(catalogue) >= 5 and "kitchen" in catalogue
    assert (kitchen.group, kitchen.list_name, kitchen.wiki_namespace, kitchen.redmine_project) == (
        "wg-kitchen", "wg-kitchen", "wg:kitchen", "wg-kitchen")


@pytest.mark.parametrize("text, message", [
    ("working_groups: [", "not valid YAML"),
    ("- slug: a", "a 'working_groups' list"),
    ("working_groups: []", "no working group"),
    ("working_groups:\n  - slug: kitchen\n    name: K\n", "working group 1: missing description"),
    ("working_groups:\n  - {slug: kitchen, name: K, description: D, colour: red}", "unknown field colour"),
    ("working_groups:\n  - {slug: Kitchen, name: K, description: D}", "slug 'Kitchen' must be"),
    ("working_groups:\n  - {slug: 'a,ou=x', name: K, description: D}", "must be"),
    ("working_groups:\n  - {slug: kitchen, name: '', description: D}", "non-empty text"),
    ("working_groups:\n  - {slug: kitchen, name: K, description: D}\n"
     "  - {slug: kitchen, name: K2, description: D2}", "working group 2: slug 'kitchen' appears twice"),
])
def test_a_malformed_catalogue_is_refused_with_where_and_why(tmp_path, text, message):
    path = tmp_path / "catalogue.yaml"
    path.write_text(text)
    with pytest.raises(CatalogueError, match=message) as raised:
        load_catalogue(path)
    assert str(path) in str(raised.value)


def test_a_missing_catalogue_file_is_named(tmp_path):
    with pytest.raises(CatalogueError, match="cannot read the catalogue .*nowhere.yaml"):
        load_catalogue(tmp_path / "nowhere.yaml")
