import time


class SystemClock:
    def now(self):
        return time.monotonic()


class ManualClock:
    def __init__(self, t=0.0):
        self.t = t

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds
