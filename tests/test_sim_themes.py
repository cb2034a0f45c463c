"""Road themes: a pure function of (seed, distance), at least three per race, no repeats in a row."""

from __future__ import annotations

from p2p_race.sim import THEMES, theme_at
from p2p_race.sim.themes import THEME_LENGTH


def test_themes_change_with_distance_and_never_repeat_in_a_row():
    for seed in range(50):
        seq = [theme_at(seed, k * THEME_LENGTH + 1.0) for k in range(8)]  # ~20 km: a long race
        assert len(set(seq[:4])) >= 3, (seed, seq)  # three themes within 10 km
        assert all(a != b for a, b in zip(seq, seq[1:], strict=False)), (seed, seq)
        assert theme_at(seed, -50.0) == seq[0]  # the start grid has the first theme
        assert theme_at(seed, THEME_LENGTH - 0.01) == seq[0]


def test_every_peer_sees_the_same_themes_and_seeds_differ():
    a = [theme_at(1234, d) for d in range(0, 20000, 500)]
    assert a == [theme_at(1234, d) for d in range(0, 20000, 500)]
    firsts = {theme_at(seed, 0.0) for seed in range(40)}
    assert firsts == set(THEMES)  # every theme can open a race
    assert len(THEMES) >= 3
