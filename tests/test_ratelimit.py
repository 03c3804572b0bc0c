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


def test_lanes_share_a_window_in_proportion_to_the_work_they_have_left():
    t = FakeTime()
    limiter = Limiter(10, 10.0, t.clock, t.sleep)
    limiter.plan("emails", left=30, step=0.25)  # could use 40 a window; owed 7.5 of 10
    limiter.plan("notes", left=10, step=0.25)   # owed 2.5
    for _ in range(3):
        limiter.acquire("notes")
    assert t.slept == []
    assert limiter._wait_for("notes", t.now) == 0.02  # the rest of the window is owed to emails
    assert limiter._wait_for(None, t.now) == 0.02
    for _ in range(7):
        limiter.acquire("emails")
    assert t.slept == []


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
