"""Racer colours (p2p_race.match.colors): a pure function of the replicated roster, so every
peer paints every car the same through the lobby, countdown, race and result, after a
failover and in the rematch."""

from __future__ import annotations

import random

import pytest

from assets.sprites import CAR_COLORS
from p2p_race.match import MatchConfig
from p2p_race.match import messages as m
from p2p_race.match.colors import NO_WISH, PALETTE, racer_colors, wish_index
from p2p_race.match.machine import Phase
from tests.support.matchsim import SimMatch, identity
from tests.support.simnet import Faults


def test_the_palette_is_the_games_car_colours_and_the_wire_agrees():
    assert PALETTE == tuple(CAR_COLORS)
    assert NO_WISH == m.NO_COLOR and wish_index("red") == 0 and wish_index("chartreuse") == NO_WISH


def test_colours_follow_the_wishes_in_peer_id_order_whatever_the_input_order():
    ids = [f"{i:016x}" for i in (7, 3, 12, 5)]
    wishes = [wish_index("red"), wish_index("red"), NO_WISH, 200]  # 200: garbage from the wire
    racers = list(zip(ids, wishes, strict=True))
    colors = racer_colors(racers)
    for _ in range(5):
        random.Random(len(racers)).shuffle(racers)
        assert racer_colors(racers) == colors
    assert colors[f"{3:016x}"] == "red"  # the lower id keeps its wish
    assert colors[f"{7:016x}"] != "red"  # the other red wish gets its own next colour
    assert len(set(colors.values())) == 4
    # a racer's colour does not depend on racers after it in id order
    assert racer_colors(racers[:1] + [(f"{99:016x}", 0)])[racers[0][0]] == colors[racers[0][0]]


def test_sixteen_racers_share_the_palette_as_evenly_as_it_goes():
    colors = racer_colors((f"{i:016x}", NO_WISH) for i in range(16))
    counts = {c: list(colors.values()).count(c) for c in PALETTE}
    assert set(counts.values()) == {1, 2} and sum(counts.values()) == 16


def seen(sim: SimMatch) -> list[dict[str, str]]:
    """Every live member's colours, from its own replica of the roster."""
    out = []
    for p in sim.alive():
        mt = p.core.match
        if mt is not None and mt.joined:
            out.append(racer_colors((r.peer_id, r.color) for r in mt.racers.values()))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_every_peer_sees_the_same_colours_from_lobby_to_result_and_in_the_rematch(seed):
    red, blue = wish_index("red"), wish_index("blue")
    n = 4
    sim = SimMatch(100 + seed, n, 1, Faults(loss=0.05, jitter=0.003),
                   MatchConfig(auto_start=n, auto_start_delay=0.5, countdown=0.5, result_linger=1.0), 1.5,
                   [None] * (n + 1), wishes=[red, red, blue, NO_WISH, red])
    host = sim.peers[sim.host_pid]
    phases: dict[int, dict[str, str]] = {}
    for _ in range(400):  # sample every 0.05 s until the result is everywhere
        sim.net.run_for(0.05)
        views = seen(sim)
        mt = host.core.match
        if len(mt.racers) == n and views:
            assert all(v == views[0] for v in views if len(v) == n), views  # the spectator too
            phases.setdefault(mt.phase, views[0])
        if sim.done() and mt.result is not None:
            break
    assert set(phases) == {Phase.LOBBY, Phase.COUNTDOWN, Phase.RACING, Phase.FINISHED}
    first = phases[Phase.LOBBY]
    assert all(c == first for c in phases.values())  # the same colours on every screen
    assert len(set(first.values())) == n and list(first.values()).count("red") == 1
    assert first[min(identity(0).peer_id, identity(1).peer_id)] == "red"  # two wished red: the lower id
    # the rematch: the same group with the same wishes gets the same colours
    for p in sim.peers.values():
        p.role = None
    host.do(host.core.rematch(host.local(sim.net.now)), sim.net.now)
    new = host.core.match
    sim.net.run_for(6.0, stop=lambda: len(new.racers) == n and len(seen(sim)) == n + 1
                    and all(len(v) == n for v in seen(sim)))
    again = seen(sim)
    assert len(again) == n + 1 and all(v == first for v in again)
    assert identity(4).peer_id not in first  # (the spectator has no car)
