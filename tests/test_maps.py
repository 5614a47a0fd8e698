"""The record helpers: ``evolve`` copies like ``attrs.evolve``; the records are plain attrs."""

from __future__ import annotations

import attrs
import pytest

from flowrx._records import assoc, dissoc, evolve
from flowrx.concerns import chat, group, interaction, lifecycle, store, tool, visual


@attrs.frozen
class Plain:
    a: int
    b: str = "x"


@attrs.frozen
class Checked:
    a: int = attrs.field(validator=attrs.validators.instance_of(int))


@attrs.frozen
class Private:
    _hidden: int
    shown: str = "x"


@attrs.frozen
class Clashing:
    unknown: int = 0
    inst: int = 0
    cls: int = 0
    new: int = 0
    copy: int = 0


def test_evolve_copies_a_record_whose_fields_share_names_with_the_copiers_own() -> None:
    """Fields called ``unknown``, ``inst``, ``cls``, ``new`` or ``copy`` (the decoder's counters
    have an ``unknown``) are copied like any other."""
    old = Clashing()
    assert evolve(old, unknown=1, inst=2) == Clashing(1, 2)
    assert evolve(old, cls=3, new=4, copy=5) == Clashing(0, 0, 3, 4, 5)
    with pytest.raises(TypeError, match="has no field other"):
        evolve(old, other=1)


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


def test_evolve_runs_the_records_validators_as_its_constructor_does() -> None:
    """A copy is made by the class's own __init__: a value its validator refuses raises."""
    assert evolve(Checked(1), a=2) == Checked(2)
    with pytest.raises(TypeError):
        evolve(Checked(1), a="two")


def test_evolve_copies_a_record_with_private_fields_by_their_names() -> None:
    """A field spelt ``_hidden`` (``__init__`` argument ``hidden``) is changed by its name."""
    assert evolve(Private(1), _hidden=2) == Private(2)
    assert evolve(Private(1), shown="y") == Private(1, "y")


def test_every_record_of_the_concerns_is_an_ordinary_frozen_attrs_class() -> None:
    """No record trades its slots for speed: each is declared as people declare attrs classes."""
    modules = (chat, group, interaction, lifecycle, store, tool, visual)
    records = [
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type) and attrs.has(value) and value.__module__ == module.__name__
    ]
    assert sum("State" in cls.__name__ for cls in records) == 7
    for cls in records:
        assert "__slots__" in cls.__dict__, cls


def test_assoc_and_dissoc_copy_and_leave_the_mapping_alone() -> None:
    """assoc and dissoc return copies; dissoc of an absent key returns the same mapping."""
    base = {"a": 1}
    assert assoc(base, "b", 2) == {"a": 1, "b": 2}
    assert dissoc(base, "a") == {}
    assert dissoc(base, "z") is base
    assert base == {"a": 1}
