"""The reducers' record helpers: ``evolve`` copies like ``attrs.evolve``, only cheaper."""

from __future__ import annotations

import attrs
import pytest

from flowrx._records import assoc, dissoc, evolve
from flowrx.concerns import chat, group, interaction, lifecycle, store, tool, visual


@attrs.frozen(slots=False)
class Plain:
    a: int
    b: str = "x"


@attrs.frozen
class Slotted:
    a: int
    b: str = "x"


@attrs.frozen(slots=False)
class Checked:
    a: int = attrs.field(validator=attrs.validators.instance_of(int))


def test_evolve_copies_a_record_with_the_changes_and_leaves_the_original_alone() -> None:
    """The copy has the changes, equals what attrs.evolve makes, and the original is as it was."""
    old = Plain(1)
    new = evolve(old, b="y")
    assert new == attrs.evolve(old, b="y") == Plain(1, "y")
    assert old == Plain(1, "x")
    assert type(new) is Plain
    assert new is not old


def test_evolve_keeps_the_copy_frozen() -> None:
    """A copied record refuses assignment, like one made by its constructor."""
    new = evolve(Plain(1), a=2)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        new.a = 3  # type: ignore[misc]


def test_evolve_rejects_a_name_that_is_not_a_field() -> None:
    """A misspelt field raises TypeError naming it, as attrs.evolve does."""
    with pytest.raises(TypeError, match="has no field c"):
        evolve(Plain(1), c=2)


def test_evolve_refuses_a_class_whose_fields_a_copy_would_not_check() -> None:
    """A record with a validator cannot be copied through its __dict__: TypeError."""
    with pytest.raises(TypeError, match="not a plain init field"):
        evolve(Checked(1), a=2)


def test_evolve_copies_a_slotted_record_through_attrs() -> None:
    """A slotted record still gets a correct copy."""
    assert evolve(Slotted(1), b="y") == Slotted(1, "y")


def test_every_reducer_record_is_copied_through_its_dict() -> None:
    """The reducers' state records have no slots, so evolve takes its cheap way for them."""
    modules = (chat, group, interaction, lifecycle, store, tool, visual)
    records = [
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type)
        and attrs.has(value)
        and value.__module__ == module.__name__
        and "State" in value.__name__
    ]
    assert len(records) == 7
    for cls in records:
        assert "__slots__" not in cls.__dict__, cls


def test_assoc_and_dissoc_copy_and_leave_the_mapping_alone() -> None:
    """assoc and dissoc return copies; dissoc of an absent key returns the same mapping."""
    base = {"a": 1}
    assert assoc(base, "b", 2) == {"a": 1, "b": 2}
    assert dissoc(base, "a") == {}
    assert dissoc(base, "z") is base
    assert base == {"a": 1}
