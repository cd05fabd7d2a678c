"""Label placement on data: place signs that would cover each other on screen, speech over a head."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from client.app.labels import Card, Rect, declutter, stack

GAP = 0.015


def span(card: Card, z: float) -> tuple[float, float]:
    return z + card.bottom, z + card.top


def up(r: Rect, dy: float) -> Rect:
    return Rect(r.left, r.bottom + dy, r.right, r.top + dy)


def clear(a: Rect, b: Rect, gap: float) -> bool:
    """Side by side, or one above the other at least `gap` apart."""
    return (a.right <= b.left + 1e-6 or b.right <= a.left + 1e-6
            or a.bottom >= b.top + gap - 1e-6 or b.bottom >= a.top + gap - 1e-6)


def test_the_farther_sign_moves_up_clear_of_the_nearer_one_it_would_cover():
    # From the south spawn: the Plaza sign 7.5 m away, the Fountain's 15.5 m away behind it.
    plaza = Rect(-0.20, -0.01, 0.20, 0.09)
    fountain = Rect(-0.12, 0.00, 0.12, 0.05)
    lifts = declutter([plaza, fountain], GAP)
    assert lifts[0] == 0.0                                       # the nearest stays where it is
    assert abs(up(fountain, lifts[1]).bottom - (plaza.top + GAP)) < 1e-9     # just clear, no higher


def test_signs_side_by_side_or_behind_the_camera_stay_put():
    assert declutter([Rect(-0.5, 0, -0.1, 0.1), Rect(0.1, 0, 0.5, 0.1), None], GAP) == [0.0, 0.0, 0.0]


def test_a_sign_moved_past_one_is_moved_again_past_the_next():
    a, b, c = Rect(-0.2, 0.0, 0.2, 0.1), Rect(-0.2, 0.12, 0.2, 0.2), Rect(-0.1, 0.05, 0.1, 0.1)
    lifts = declutter([a, b, c], GAP)
    assert lifts[:2] == [0.0, 0.0] and clear(up(c, lifts[2]), a, GAP) and clear(up(c, lifts[2]), b, GAP)


rects = st.builds(lambda x, y, w, h: Rect(x, y, x + w, y + h), st.floats(-1, 1), st.floats(-1, 1),
                  st.floats(0.01, 0.5), st.floats(0.01, 0.3))


@given(st.lists(st.one_of(st.none(), rects), max_size=12))
def test_no_sign_covers_another_and_none_moves_down(shown):
    lifts = declutter(shown, GAP)
    assert all(lift >= 0.0 for lift in lifts)
    placed = [up(r, lift) for r, lift in zip(shown, lifts) if r is not None]
    for i, a in enumerate(placed):
        for b in placed[:i]:
            assert clear(a, b, GAP), (a, b)


def test_bubbles_pile_up_by_their_real_heights_newest_nearest_the_head():
    one_line, three_lines, emote = Card(-0.07, 0.2), Card(-0.5, 0.2), Card(-0.05, 0.22)
    cards = [one_line, three_lines, one_line, emote]
    zs = stack(cards, base=2.45, gap=0.05)
    spans = [span(c, z) for c, z in zip(cards, zs)]
    assert abs(spans[0][0] - 2.45) < 1e-9                              # the newest sits just over the plate
    for lower, upper in zip(spans, spans[1:]):
        assert abs(upper[0] - (lower[1] + 0.05)) < 1e-9                # each on the one below, never into it
    assert stack([], 2.45, 0.05) == []
