from postroom.lib.backoff import backoff_delay


def test_it_doubles_from_the_base_up_to_the_cap():
    delays = [backoff_delay(n, base=1, cap=10, jitter=0) for n in range(1, 7)]
    assert delays == [1, 2, 4, 8, 10, 10]


def test_it_jitters_within_the_given_fraction():
    for _ in range(200):
        assert 3 <= backoff_delay(3, base=1, cap=10, jitter=0.25) <= 5
