from connector.ratelimit import WINDOW_MARGIN_S, Budget, Limiter


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_limiter_lets_capacity_through_then_waits_for_the_window():
    t = FakeTime()
    limiter = Limiter(3, 10.0, t.clock, t.sleep)
    for _ in range(3):
        limiter.acquire()
    assert t.slept == []
    limiter.acquire()
    assert t.slept == [round(10.0 + WINDOW_MARGIN_S, 3)]
    assert limiter.remaining() == 2


def test_headers_count_requests_other_apps_made():
    t = FakeTime()
    limiter = Limiter(10, 10.0, t.clock, t.sleep)
    limiter.acquire()
    limiter.observe(limit=10, remaining=2)  # the portal saw 8 requests; we made 1
    assert limiter.remaining() == 2


def test_header_max_replaces_the_configured_tier():
    t = FakeTime()
    limiter = Limiter(100, 10.0, t.clock, t.sleep)
    limiter.observe(limit=250, remaining=None)
    assert limiter.capacity == 250


def test_exhausted_makes_every_caller_wait():
    t = FakeTime()
    limiter = Limiter(5, 10.0, t.clock, t.sleep)
    limiter.acquire()
    limiter.exhausted()
    assert limiter.remaining() == 0


def test_budget_reads_daily_headers_and_ignores_search():
    budget = Budget.for_tier(190)
    budget.observe("TEN_SECONDLY_ROLLING", {"X-HubSpot-RateLimit-Max": "190",
                                            "X-HubSpot-RateLimit-Remaining": "189",
                                            "X-HubSpot-RateLimit-Daily": "625000",
                                            "X-HubSpot-RateLimit-Daily-Remaining": "624000"})
    assert (budget.daily_limit, budget.daily_remaining) == (625000, 624000)
    assert budget.ten_secondly.remaining() == 189
    budget.observe("SECONDLY", {"X-HubSpot-RateLimit-Remaining": "0"})
    assert budget.secondly.remaining() == 5


def test_the_longest_chain_is_served_first():
    t = FakeTime()
    limiter = Limiter(10, 10.0, t.clock, t.sleep)
    limiter.plan("emails", left=30, step=0.25)  # 30 pages: three windows' worth of this one
    limiter.plan("notes", left=10, step=0.25)   # could all wait for the next window
    assert limiter._shares() == {"emails": 10.0, "notes": 0.0}
    assert limiter._wait_for("notes", t.now) == 0.02  # the window is owed to emails
    assert limiter._wait_for(None, t.now) == 0.02
    for _ in range(10):
        limiter.acquire("emails")
    assert t.slept == []


def test_lanes_at_one_level_share_the_window_down_to_it():
    limiter = Limiter(10, 10.0)
    limiter.plan("emails", left=12, step=0.25)  # 40 a window at most: the cap does not bind
    limiter.plan("notes", left=10, step=0.25)
    # level h: (12 - 40h) + (10 - 40h) = 10, so h = 0.15 and each keeps 12 - 6 and 10 - 6
    assert _rounded(limiter._shares()) == {"emails": 6.0, "notes": 4.0}


def test_a_share_counts_what_the_lane_started_this_window():
    t = FakeTime()
    limiter = Limiter(10, 10.0, t.clock, t.sleep)
    limiter.plan("emails", left=12, step=0.25)
    limiter.plan("notes", left=10, step=0.25)
    for _ in range(3):
        limiter.acquire("emails")
    limiter.plan("emails", left=9, step=0.25)
    assert _rounded(limiter._shares()) == {"emails": 6.0, "notes": 4.0}
    assert limiter._wait_for("emails", t.now) is None  # 3 of its 6 started


def test_lane_less_requests_and_finished_lanes_shrink_the_room():
    t = FakeTime()
    limiter = Limiter(10, 10.0, t.clock, t.sleep)
    limiter.plan("companies", left=1, step=0.25)
    limiter.acquire("companies")
    limiter.plan("companies", left=0, step=0.25)
    limiter.acquire(None)  # an archived sweep
    limiter.plan("emails", left=12, step=0.25)
    limiter.plan("notes", left=10, step=0.25)
    # 8 slots left: (12 - 40h) + (10 - 40h) = 8, so h = 0.175
    assert _rounded(limiter._shares()) == {"emails": 5.0, "notes": 3.0}


def test_chains_many_windows_long_are_levelled_to_end_together():
    limiter = Limiter(40, 10.0)
    limiter.plan("emails", left=70, step=10 / 35)  # two windows of its own pace
    limiter.plan("calls", left=50, step=10 / 35)
    # (70 - 35h) + (50 - 35h) = 40: h = 8/7, and both leave 40 pages for later windows
    assert _rounded(limiter._shares()) == {"emails": 30.0, "calls": 10.0}


def _rounded(shares: dict[str, float]) -> dict[str, float]:
    return {name: round(share, 9) for name, share in shares.items()}


def test_a_lane_is_never_owed_more_than_its_work_left():
    t = FakeTime()
    limiter = Limiter(10, 10.0, t.clock, t.sleep)
    limiter.plan("associations", left=1, step=0.01)
    for _ in range(9):
        limiter.acquire(None)
    assert t.slept == []  # one slot is kept for the one batch left, the rest was free
    assert limiter._wait_for(None, t.now) == 0.02
    limiter.plan("associations", left=0, step=0.01)
    limiter.acquire(None)
    assert t.slept == []


def test_capped_lanes_leave_their_excess_to_the_others():
    limiter = Limiter(100, 10.0)
    limiter.plan("emails", left=500, step=0.5)  # a chain of 0.5 s pages uses at most 20 a window
    limiter.plan("calls", left=100, step=0.1)
    assert limiter._shares() == {"emails": 20.0, "calls": 80.0}
