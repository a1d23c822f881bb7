"""Limits on what a client can make the console do before it has proven anything.

- Failed sign-ins per client address (the `limits` library's moving window). The server's
  password policy locks an account after its own count of failures (pwdMaxFailure); this stops one
  address from guessing across many accounts. There is no count per username: anyone could then
  shut a person out of the console with wrong passwords, and the policy already counts per account.
- Request bodies: at most MAX_BODY bytes (FastAPI's own limit, `max_body_size`): refused with 413
  before they are read, whoever sends them.
"""

from __future__ import annotations

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

MAX_BODY = 1024 * 1024  # a request file may be 1 MiB (files/inbox.py); a form or a JSON request no more


class SignInLimiter:
    def __init__(self, per_minute: int) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.window = MovingWindowRateLimiter(MemoryStorage())

    def allowed(self, address: str) -> bool:
        """May one more attempt be made from `address` now?"""
        return self.window.test(self.item, "sign-in", address)

    def failed(self, address: str) -> None:
        self.window.hit(self.item, "sign-in", address)
