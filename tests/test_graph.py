"""Tests for flowrx.graph: loading flow graphs and answering per-event lookups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import EXAMPLES

from flowrx.graph import FlowGraph, GraphError, Node, graph_from_mapping, load_graph

GROUPS_FLOW = EXAMPLES / "groups-tools-error.flow.json"
AGENT_FLOW = EXAMPLES / "agent-chat.flow.json"

GROUP = "a0000000-0000-4000-8000-00000000000a"
IN_GROUP = "a0000000-0000-4000-8000-000000000003"
PLAY = "a0000000-0000-4000-8000-000000000001"


def nested_three_deep() -> FlowGraph:
    """outer > middle > inner > leaf, plus a sibling in outer and a node outside any group."""
    return graph_from_mapping(
        {
            "flowrx": "flow/1",
            "flow_id": "f",
            "nodes": [
                {"id": "outer", "category": "group"},
                {"id": "middle", "category": "group", "group": "outer"},
                {"id": "inner", "category": "group", "group": "middle"},
                {"id": "leaf", "path": "pkg.mod.Leaf", "group": "inner"},
                {"id": "sibling", "group": "outer"},
                {"id": "free"},
            ],
        }
    )


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write text to a file under tmp_path and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_groups_sample_loads_with_its_group_and_member() -> None:
    """The groups-tools-error example loads with one group holding one member."""
    graph = load_graph(GROUPS_FLOW)
    assert graph.flow_id == "11111111-2222-4333-8444-555555555555"
    assert len(graph.nodes) == 10
    assert graph.problems == ()
    assert graph.groups == frozenset({GROUP})
    assert graph.ancestors(IN_GROUP) == (GROUP,)
    assert graph.descendants(GROUP) == frozenset({IN_GROUP})
    assert graph.node(IN_GROUP) == Node(
        id=IN_GROUP,
        handle="in_group",
        path="polysynergy_nodes.variable.variable_string.VariableString",
        category="variable",
        group=GROUP,
    )
    assert graph.type(PLAY) == "Play"
    assert graph.handle(PLAY) == "play"


def test_agent_sample_loads_without_groups() -> None:
    """The agent-chat example loads six ungrouped nodes with their types."""
    graph = load_graph(str(AGENT_FLOW))
    assert graph.flow_id == "22222222-3333-4444-8555-666666666666"
    assert len(graph.nodes) == 6
    assert graph.groups == frozenset()
    assert graph.problems == ()
    assert graph.type("b0000000-0000-4000-8000-000000000002") == "AgnoAgent"
    assert all(graph.ancestors(node_id) == () for node_id in graph.nodes)


def test_group_members_from_node_setup_export_are_descendants() -> None:
    """A PolySynergy version's content with group.nodes lists gives the same nesting."""
    graph = graph_from_mapping(
        {
            "nodes": [
                {
                    "id": "g1",
                    "handle": "outer",
                    "type": "group",
                    "category": "group",
                    "group": {"isOpen": False, "isHidden": True, "nodes": ["a", "g2"]},
                    "variables": [],
                },
                {"id": "g2", "type": "group", "group": {"nodes": ["b"]}, "path": ""},
                {"id": "a", "path": "polysynergy_nodes.play.play.Play", "category": "flow"},
                {"id": "b", "variables": [{"handle": "name", "value": "Researcher"}]},
            ],
            "connections": [],
            "groups": {"groupStack": [], "openedGroup": None},
        }
    )
    assert graph.flow_id is None
    assert graph.problems == ()
    assert graph.groups == frozenset({"g1", "g2"})
    assert graph.descendants("g1") == frozenset({"a", "g2", "b"})
    assert graph.ancestors("b") == ("g2", "g1")
    node_b = graph.node("b")
    assert node_b is not None
    assert node_b.group == "g2"
    assert node_b.name == "Researcher"
    assert graph.type("g2") is None


def test_node_setup_version_wrapped_in_content_uses_the_version_id_as_flow_id() -> None:
    """A NodeSetupVersion ({id, version_number, content}) reads its nodes from content."""
    version = {"id": "v-1", "version_number": 3, "content": {"nodes": [{"id": "a"}]}}
    graph = graph_from_mapping(version)
    assert graph.flow_id == "v-1"
    assert list(graph.nodes) == ["a"]


def test_node_setup_with_a_published_version_uses_that_version() -> None:
    """A route-like object's node_setup.published_version is the graph that is read."""
    route = {
        "id": "route-1",
        "versions": [{"id": "x", "version_number": 1, "published": True, "draft": False}],
        "node_setup": {
            "id": "setup-1",
            "versions": [{"id": "v-1", "content": {"nodes": []}}, {"id": "v-2"}],
            "published_version": {
                "id": "v-2",
                "version_number": 2,
                "content": {"nodes": [{"id": "p"}]},
            },
        },
    }
    graph = graph_from_mapping(route)
    assert graph.flow_id == "v-2"
    assert list(graph.nodes) == ["p"]


def test_node_setup_with_several_unpublished_versions_is_refused() -> None:
    """Which of several unpublished versions runs is unknown, so the file is refused."""
    setup = {
        "node_setup": {
            "id": "s",
            "versions": [{"id": "1", "content": {"nodes": []}}, {"id": "2", "content": {}}],
        }
    }
    with pytest.raises(GraphError, match="none is published"):
        graph_from_mapping(setup, source="setup.json")


def test_flow_version_wrapper_is_unwrapped() -> None:
    """A flow_version key holding version content is accepted."""
    graph = graph_from_mapping({"flow_version": {"id": "v", "content": {"nodes": [{"id": "n"}]}}})
    assert graph.flow_id == "v"
    assert graph.node("n") == Node(id="n")


def test_nested_groups_three_deep_list_ancestors_innermost_first() -> None:
    """Ancestors of a leaf three groups deep run from its own group outward."""
    graph = nested_three_deep()
    assert graph.ancestors("leaf") == ("inner", "middle", "outer")
    assert graph.ancestors("inner") == ("middle", "outer")
    assert graph.ancestors("outer") == ()
    assert graph.ancestors("free") == ()


def test_nested_groups_three_deep_have_all_levels_as_descendants() -> None:
    """A group's descendants include nested groups and their members, never itself."""
    graph = nested_three_deep()
    assert graph.descendants("outer") == frozenset({"middle", "inner", "leaf", "sibling"})
    assert graph.descendants("middle") == frozenset({"inner", "leaf"})
    assert graph.descendants("inner") == frozenset({"leaf"})
    assert graph.descendants("leaf") == frozenset()
    assert graph.groups == frozenset({"outer", "middle", "inner"})
    assert graph.is_group("middle")
    assert not graph.is_group("leaf")


def test_group_cycle_is_reported_once_and_lookups_terminate() -> None:
    """A in B and B in A is one problem; walks stop before repeating an id."""
    graph = graph_from_mapping(
        {
            "nodes": [
                {"id": "A", "category": "group", "group": "B"},
                {"id": "B", "category": "group", "group": "A"},
                {"id": "C", "group": "A"},
            ]
        }
    )
    cycles = [problem for problem in graph.problems if "cycle" in problem]
    assert cycles == ['group cycle "A" -> "B" -> "A": enclosing groups stop before repeating']
    assert graph.ancestors("A") == ("B",)
    assert graph.ancestors("B") == ("A",)
    assert graph.ancestors("C") == ("A", "B")
    assert graph.descendants("A") == frozenset({"B", "C"})
    assert graph.descendants("B") == frozenset({"A", "C"})


def test_group_cycle_in_node_setup_form_is_reported_once() -> None:
    """Groups listing each other as members form one reported cycle."""
    graph = graph_from_mapping(
        {
            "nodes": [
                {"id": "A", "group": {"nodes": ["B"]}},
                {"id": "B", "group": {"nodes": ["C"]}},
                {"id": "C", "group": {"nodes": ["A"]}},
            ]
        }
    )
    assert len(graph.problems) == 1
    assert "cycle" in graph.problems[0]
    assert graph.ancestors("A") == ("C", "B")
    assert graph.descendants("A") == frozenset({"B", "C"})


def test_self_membership_is_reported_and_ignored() -> None:
    """A node in its own group is reported once and is not its own ancestor."""
    graph = graph_from_mapping(
        {"nodes": [{"id": "S", "category": "group", "group": "S"}, {"id": "T", "group": "S"}]}
    )
    assert graph.problems == ('node "S" is listed as a member of itself; ignored',)
    assert graph.ancestors("S") == ()
    assert graph.descendants("S") == frozenset({"T"})
    node = graph.node("S")
    assert node is not None
    assert node.group is None


def test_self_membership_in_member_list_is_reported_once() -> None:
    """A group listing itself twice yields a single problem."""
    graph = graph_from_mapping({"nodes": [{"id": "S", "group": {"nodes": ["S", "S"]}}]})
    assert graph.problems == ('node "S" is listed as a member of itself; ignored',)
    assert graph.descendants("S") == frozenset()


def test_node_listed_in_two_groups_keeps_the_first() -> None:
    """Double membership keeps the first listing in document order and reports it."""
    graph = graph_from_mapping(
        {
            "nodes": [
                {"id": "G1", "group": {"nodes": ["n"]}},
                {"id": "G2", "group": {"nodes": ["n"]}},
                {"id": "n", "group": "G2"},
            ]
        }
    )
    assert graph.ancestors("n") == ("G1",)
    assert graph.descendants("G2") == frozenset()
    assert graph.problems == ('node "n" is listed in groups "G1" and "G2": keeping "G1"',)


def test_duplicate_node_id_keeps_the_first_node() -> None:
    """A repeated id keeps the first node and reports the duplicate."""
    graph = graph_from_mapping({"nodes": [{"id": "x", "handle": "one"}, {"id": "x"}]})
    assert graph.handle("x") == "one"
    assert graph.problems == ('duplicate node id "x": keeping the first',)


def test_membership_naming_unknown_ids_is_kept() -> None:
    """Members and groups the graph lacks still count for ancestors and descendants."""
    graph = graph_from_mapping(
        {"nodes": [{"id": "g", "group": {"nodes": ["ghost"]}}, {"id": "m", "group": "lost"}]}
    )
    assert graph.problems == ()
    assert graph.node("ghost") is None
    assert graph.ancestors("ghost") == ("g",)
    assert graph.descendants("g") == frozenset({"ghost"})
    assert graph.ancestors("m") == ("lost",)
    assert graph.is_group("lost")


def test_unknown_ids_return_none_or_empty() -> None:
    """Every lookup of an unknown, None or non-string id answers empty without raising."""
    graph = nested_three_deep()
    for unknown in ("nope", None, "", 42, ["list"], {"a": 1}):
        assert graph.node(unknown) is None  # type: ignore[arg-type]
        assert graph.handle(unknown) is None  # type: ignore[arg-type]
        assert graph.type(unknown) is None  # type: ignore[arg-type]
        assert graph.is_group(unknown) is False  # type: ignore[arg-type]
        assert graph.ancestors(unknown) == ()  # type: ignore[arg-type]
        assert graph.descendants(unknown) == frozenset()  # type: ignore[arg-type]


def test_empty_graph_answers_every_lookup_as_unknown() -> None:
    """FlowGraph.empty() has no nodes, groups or problems."""
    graph = FlowGraph.empty()
    assert graph.flow_id is None
    assert dict(graph.nodes) == {}
    assert graph.groups == frozenset()
    assert graph.ancestors("a") == ()
    assert graph.display_name("a") == "a"


@pytest.mark.parametrize(
    "odd_id",
    ['"quoted"', "back\\slash", "<script>alert(1)</script>", "new\nline", "it's & \u00e9"],
)
def test_ids_with_quotes_backslashes_and_markup_are_keys_untouched(odd_id: str) -> None:
    """Ids are data: they survive JSON round trips and lookups byte for byte."""
    text = json.dumps(
        {
            "nodes": [
                {"id": "G" + odd_id, "category": "group"},
                {"id": odd_id, "handle": odd_id, "group": "G" + odd_id},
            ]
        }
    )
    graph = graph_from_mapping(json.loads(text))
    assert odd_id in graph.nodes
    assert graph.handle(odd_id) == odd_id
    assert graph.ancestors(odd_id) == ("G" + odd_id,)
    assert graph.descendants("G" + odd_id) == frozenset({odd_id})
    assert graph.display_name(odd_id) == odd_id


def test_problem_lines_stay_single_line_for_ids_with_newlines() -> None:
    """Problems quote ids JSON-style, so a newline in an id cannot split a line."""
    graph = graph_from_mapping({"nodes": [{"id": "a\nb"}, {"id": "a\nb"}]})
    assert graph.problems == ('duplicate node id "a\\nb": keeping the first',)


def test_type_is_last_dotted_part_of_path() -> None:
    """A node's type is its class name; a missing, null or empty path gives None."""
    assert Node(id="n", path="pkg.mod.Class").type == "Class"
    assert Node(id="n", path="Bare").type == "Bare"
    assert Node(id="n", path=None).type is None
    assert Node(id="n", path="").type is None
    assert Node(id="n", path="pkg.").type is None


def test_group_without_path_has_type_none_not_group_node() -> None:
    """A group with null or absent path has type None, never 'GroupNode'."""
    graph = graph_from_mapping(
        {
            "nodes": [
                {"id": "g", "category": "group", "path": None},
                {"id": "h", "category": "group"},
            ]
        }
    )
    assert graph.type("g") is None
    assert graph.type("h") is None
    assert graph.is_group("g")
    assert graph.is_group("h")


def test_display_name_prefers_name_then_handle_then_member_then_id() -> None:
    """display_name falls back from the name variable to handle, member index, id, unknown."""
    graph = graph_from_mapping(
        {
            "nodes": [
                {
                    "id": "named",
                    "handle": "h",
                    "variables": [{"handle": "name", "value": "Researcher"}],
                },
                {"id": "blank", "handle": "h2", "variables": [{"handle": "name", "value": "  "}]},
                {"id": "numeric", "handle": "h3", "variables": [{"handle": "name", "value": 7}]},
                {"id": "bare"},
            ]
        }
    )
    assert graph.display_name("named") == "Researcher"
    assert graph.display_name("named", member_index=2) == "Researcher"
    assert graph.display_name("blank") == "h2"
    assert graph.display_name("numeric") == "h3"
    assert graph.display_name("bare", member_index=0) == "Member 1"
    assert graph.display_name("bare") == "bare"
    assert graph.display_name("missing", 4) == "Member 5"
    assert graph.display_name("missing") == "missing"
    assert graph.display_name(None) == "unknown"
    assert graph.display_name("") == "unknown"


def test_node_variables_are_read_only() -> None:
    """Node.variables cannot be changed after construction, and the node stays hashable."""
    node = Node(id="n", variables={"name": "X"})
    with pytest.raises(TypeError):
        node.variables["name"] = "Y"  # type: ignore[index]
    assert node.name == "X"
    assert hash(node) == hash(Node(id="n", variables={"name": "Z"}))


def test_build_from_nodes_precomputes_the_same_lookups() -> None:
    """FlowGraph.build takes Node objects and precomputes ancestors and descendants."""
    graph = FlowGraph.build(
        [Node(id="g", category="group"), Node(id="m", group="g"), Node(id="m")],
        flow_id="f",
    )
    assert graph.ancestors("m") == ("g",)
    assert graph.descendants("g") == frozenset({"m"})
    assert graph.problems == ('duplicate node id "m": keeping the first',)


def test_missing_file_is_a_one_line_graph_error_naming_it(tmp_path: Path) -> None:
    """A missing file raises GraphError naming the file."""
    path = tmp_path / "absent.flow.json"
    with pytest.raises(GraphError) as caught:
        load_graph(path)
    message = str(caught.value)
    assert message == f"{path}: no such file"
    assert "\n" not in message


def test_file_that_is_not_json_is_a_one_line_graph_error(tmp_path: Path) -> None:
    """Text that is not JSON raises GraphError naming the file and the position."""
    path = write(tmp_path, "broken.json", '{"nodes": [\n  {"id": "a",\n}')
    with pytest.raises(GraphError) as caught:
        load_graph(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not JSON: ")
    assert "line 3" in message
    assert "\n" not in message


def test_empty_file_is_reported_as_empty(tmp_path: Path) -> None:
    """An empty file raises GraphError saying so."""
    path = write(tmp_path, "empty.json", "  \n")
    with pytest.raises(GraphError, match="empty"):
        load_graph(path)


def test_directory_is_a_graph_error(tmp_path: Path) -> None:
    """Pointing load_graph at a directory raises GraphError, not OSError."""
    with pytest.raises(GraphError, match="directory"):
        load_graph(tmp_path)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([], "expected a JSON object at the top level, not array"),
        ({"flow_id": "f"}, "no node list"),
        ({"nodes": {"id": "a"}}, "nodes must be an array, not object"),
        ({"nodes": "a"}, "nodes must be an array, not string"),
        ({"nodes": [{"handle": "h"}]}, "nodes[0] has no id"),
        ({"nodes": [{"id": 7}]}, "nodes[0] has no id"),
        ({"nodes": [{"id": ""}]}, "nodes[0] has no id"),
        ({"nodes": ["a"]}, "nodes[0] must be an object, not string"),
        ({"nodes": [{"id": "a", "path": 3}]}, "nodes[0].path must be a string or null"),
        ({"nodes": [{"id": "a", "group": 3}]}, "nodes[0].group must be a string, an object"),
        ({"nodes": [{"id": "a", "group": {"nodes": [1]}}]}, "group.nodes[0] must be a string"),
        ({"nodes": [{"id": "a", "variables": {}}]}, "nodes[0].variables must be an array"),
        ({"nodes": [{"id": "a", "variables": [{"value": 1}]}]}, "variables[0].handle must be"),
        ({"flow_id": 5, "nodes": []}, "flow_id must be a string or null"),
        ({"flowrx": "flow/2", "nodes": []}, "unsupported format"),
        ({"content": {"nodes": 1}}, "content.nodes must be an array"),
    ],
)
def test_bad_shapes_raise_one_line_graph_errors(document: object, fragment: str) -> None:
    """Unusable shapes raise GraphError with one line naming the source and the problem."""
    with pytest.raises(GraphError) as caught:
        graph_from_mapping(document, source="bad.flow.json")
    message = str(caught.value)
    assert message.startswith("bad.flow.json: ")
    assert fragment in message
    assert "\n" not in message


def test_file_with_nodes_not_a_list_names_the_file(tmp_path: Path) -> None:
    """load_graph passes the file name into shape errors."""
    path = write(tmp_path, "shape.json", '{"nodes": 5}')
    with pytest.raises(GraphError) as caught:
        load_graph(path)
    assert str(caught.value) == f"{path}: nodes must be an array, not number"


def test_file_with_a_node_without_id_names_the_file(tmp_path: Path) -> None:
    """A node without an id in a file raises GraphError naming the file and the node."""
    path = write(tmp_path, "noid.json", '{"nodes": [{"id": "a"}, {"handle": "b"}]}')
    with pytest.raises(GraphError) as caught:
        load_graph(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: nodes[1] has no id")
    assert "\n" not in message


def test_graph_error_is_a_value_error() -> None:
    """GraphError can be caught as ValueError."""
    assert issubclass(GraphError, ValueError)


def test_deep_group_chain_is_precomputed_without_recursion() -> None:
    """A chain of many nested groups loads and answers lookups without recursion limits."""
    depth = 2000
    nodes = [{"id": "g0", "category": "group"}]
    nodes += [{"id": f"g{i}", "category": "group", "group": f"g{i - 1}"} for i in range(1, depth)]
    graph = graph_from_mapping({"nodes": nodes})
    assert len(graph.ancestors(f"g{depth - 1}")) == depth - 1
    assert graph.ancestors(f"g{depth - 1}")[0] == f"g{depth - 2}"
    assert len(graph.descendants("g0")) == depth - 1
