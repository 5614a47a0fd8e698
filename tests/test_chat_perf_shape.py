"""Chat concern's fast representation (blocks of chunks, copied records): same rules, same state.

The reducer keeps a message's chunks in blocks and copies its records through ``__dict__``
(see :mod:`flowrx.concerns.chat`). These tests hold it to the plain rules: chunks in sequence
order with duplicates dropped, whatever the message's length, and no state a reduction returned
is ever changed by a later one.
"""

from __future__ import annotations

import pickle
import random
from collections.abc import Iterable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowrx.concerns.chat import (
    ChatMessage,
    ChatState,
    Chunk,
    MessageSummary,
    chat_concern,
    chat_section,
    reduce_chat,
)
from flowrx.concerns.effects import Change
from flowrx.messages import AgnoEvent, Evict, ExecutionEvent, Message
from flowrx.protocols.platform import IntakeState, reduce_intake
from flowrx.streams.simulate import demo_flow, simulate
from flowrx.testing import fold

RUN = "0e000000-0000-4000-8000-0000000000a1"
NODE = "b0000000-0000-4000-8000-000000000002"

Sent = tuple[str, int | None]
"""A chunk as sent: its text and its sequence id (``None``: sent without one)."""


def chunk(text: str, seq: int | None, reasoning: str | None = "") -> AgnoEvent:
    """A single agent's ``RunContent`` chunk."""
    return AgnoEvent(
        "RunContent",
        RUN,
        NODE,
        sequence_id=seq,
        agent_id="agent-1",
        agent_role="single",
        content=text,
        reasoning_content=reasoning,
        agent_name="harness agent",
    )


def feed(
    messages: Iterable[Message], state: ChatState | None = None
) -> tuple[ChatState, list[Any]]:
    """Run the pure reducer over ``messages``; the state and every effect."""
    return fold(reduce_chat, ((0.0, msg) for msg in messages), state or ChatState())


def only_message(state: ChatState) -> ChatMessage:
    """The run's one message."""
    (message,) = state.runs[RUN].messages.values()
    return message


def expected(sent: Iterable[Sent]) -> list[Chunk]:
    """The chunks a message keeps, by the rules alone: in sequence order, the ones without a
    sequence id where they arrived, a repeated sequence id dropped (a plain list, no blocks)."""
    kept: list[Chunk] = []
    seen: set[tuple[int, int]] = set()
    last: tuple[int, int] | None = None
    for text, seq in sent:
        order = None if seq is None else (0, seq)
        if order is None or last is None or order > last:
            kept.append(Chunk(text, order))
            last = order if order is not None else last
        elif order not in seen:
            at = next(
                (i for i, c in enumerate(kept) if c.order is not None and c.order > order),
                len(kept),
            )
            kept.insert(at, Chunk(text, order))
        if order is not None:
            seen.add(order)
    return kept


def shuffled_locally(n: int, seed: int) -> list[Sent]:
    """Chunks 1..n, delivered slightly out of order, some sent twice, some far too late, and
    a few without a sequence id."""
    rng = random.Random(seed)
    sent: list[Sent] = [(f"w{seq} ", seq) for seq in range(1, n + 1)]
    for i in range(len(sent) - 1):  # neighbours swap places
        if rng.random() < 0.3:
            j = min(len(sent) - 1, i + rng.randint(1, 40))
            sent[i], sent[j] = sent[j], sent[i]
    late = [sent.pop(rng.randrange(len(sent))) for _ in range(n // 100)]
    sent.extend(late)  # these arrive after everything else
    for _ in range(n // 20):  # repeats of chunks already sent
        at = rng.randrange(len(sent))
        sent.insert(rng.randrange(at, len(sent) + 1), sent[at])
    for k in range(n // 500):
        sent.insert(rng.randrange(len(sent)), (f"<plain {k}>", None))
    return sent


def fingerprint(state: ChatState) -> bytes:
    """Everything the state holds, down to each chunk and tool call."""
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def simulated_messages(runs: int, seed: int) -> list[Message]:
    """The messages the chat concern gets from the simulator's runs of the demo flow."""
    card = chat_concern(demo_flow())
    intake = IntakeState()
    out: list[Message] = []
    for frame in simulate(runs, seed=seed):
        intake, produced = reduce_intake(intake, frame.data, frame.t)
        out.extend(m for m in produced if card.accepts(m))
    return out


def test_a_message_of_thousands_of_reordered_and_repeated_chunks_comes_out_in_sequence_order() -> (
    None
):
    """5,000 chunks, many reordered, some repeated or far late: the rules' order and text."""
    sent = shuffled_locally(5000, seed=7)
    state, effects = feed(chunk(text, seq) for text, seq in sent)
    message = only_message(state)
    want = expected(sent)
    assert len(want) == 5000 + 5000 // 500
    assert message.chunks == tuple(want)
    assert message.streamed == "".join(c.text for c in want)
    assert message.last == (0, 5000)
    assert chat_section(state)[RUN][0]["text"] == message.streamed
    assert effects[-1].value.text == message.streamed  # the last change carries the whole text
    assert all(message.has(c.order) for c in want[::97] if c.order is not None)
    assert not message.has((0, 5001))


def test_a_long_message_compares_prints_and_pickles_without_deep_recursion() -> None:
    """Blocks keep nesting shallow: ==, repr and pickle work on a 20,000-chunk message."""
    sent: list[Sent] = [("x", seq) for seq in range(1, 20_001)]
    state, _ = feed(chunk(text, seq) for text, seq in sent)
    again, _ = feed(chunk(text, seq) for text, seq in sent)
    assert state == again
    assert "ChatMessage(" in repr(state)
    assert pickle.loads(fingerprint(state)) == state
    assert len(only_message(state).chunks) == 20_000


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text("abc", min_size=1, max_size=3), st.one_of(st.none(), st.integers(1, 80))),
        min_size=1,
        max_size=120,
    )
)
def test_any_arrival_order_keeps_the_chunks_the_rules_keep(sent: list[Sent]) -> None:
    """Any mix of sequence ids, repeats and plain chunks: the rules' chunks; and the message
    equals the one the same chunks make when they arrive in order (the layout is canonical)."""
    state, _ = feed(chunk(text, seq) for text, seq in sent)
    message = only_message(state)
    want = expected(sent)
    assert message.chunks == tuple(want)
    assert message.text == "".join(c.text for c in want)
    in_order, _ = feed(chunk(c.text, None if c.order is None else c.order[1]) for c in want)
    assert only_message(in_order) == message


def test_the_same_chunks_make_an_equal_message_whichever_order_they_arrived_in() -> None:
    """In order, reordered at the start, at a block boundary, at the end: equal messages."""
    seqs = list(range(1, 101))
    orders = [
        seqs,
        [2, 1, *seqs[2:]],
        [*seqs[:30], 33, 31, 32, *seqs[33:]],
        [*seqs[:98], 100, 99],
        list(reversed(seqs)),
    ]
    made = [only_message(feed(chunk(f"{s} ", s) for s in order)[0]) for order in orders]
    assert all(message == made[0] for message in made)
    assert made[0].streamed == "".join(f"{s} " for s in seqs)


def test_two_continuations_of_one_state_at_a_block_boundary_do_not_see_each_other() -> None:
    """From one held state (a block nearly full), two different next chunks, and a reordered
    one, each make their own message; the held state keeps its 31 chunks."""
    held, _ = feed(chunk(f"{seq},", seq) for seq in range(1, 32))
    before = fingerprint(held)
    a, _ = feed([chunk("A", 40), chunk("AA", 41), chunk("AAA", 42)], held)
    b, _ = feed([chunk("B", 50)], held)
    late, _ = feed([chunk("L", 0)], held)
    base = "".join(f"{seq}," for seq in range(1, 32))
    assert only_message(a).streamed == base + "AAAAAA"
    assert only_message(b).streamed == base + "B"
    assert only_message(late).streamed == "L" + base
    assert only_message(held).streamed == base
    assert len(only_message(held).chunks) == 31
    assert fingerprint(held) == before


def test_reducing_never_changes_a_state_an_earlier_reduction_returned() -> None:
    """Over simulated runs (tools, reasoning, teams, pauses, HTML, eviction), and branching off
    old states, every state keeps exactly what it held when it was returned."""
    messages = simulated_messages(53, seed=3)  # more runs than intake holds: some are evicted
    assert any(isinstance(m, Evict) for m in messages)
    state = ChatState()
    held: list[tuple[ChatState, bytes]] = []
    for n, msg in enumerate(messages):
        state, _ = reduce_chat(state, msg, 0.0, demo_flow())
        if n % 10 == 0 or n > len(messages) - 30:
            held.append((state, fingerprint(state)))
    rng = random.Random(11)
    for old, _ in rng.sample(held, 25):  # branch off old states with other messages
        for msg in rng.sample(messages, 40):
            old, _ = reduce_chat(old, msg, 0.0, demo_flow())
    for msg in (chunk("again", 1), ExecutionEvent("run_end", RUN, None, None, None)):
        reduce_chat(held[-1][0], msg, 0.0)
    assert all(fingerprint(kept) == before for kept, before in held)


def test_an_in_order_chunk_and_a_reordered_one_emit_the_same_kind_of_change() -> None:
    """The short way for in-order chunks and the general way emit equal summaries."""
    _, effects = feed([chunk("b", 2), chunk("c", 3), chunk("a", 1), chunk("a", 1)])
    summaries = [e.value for e in effects if isinstance(e, Change)]
    assert summaries == [
        MessageSummary(0, "agent", "harness agent", "content", False, "b", 0),
        MessageSummary(0, "agent", "harness agent", "content", False, "bc", 0),
        MessageSummary(0, "agent", "harness agent", "content", False, "abc", 0),
    ]
