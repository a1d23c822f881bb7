"""Failed sign-ins counted per client address and per username (the `limits` library's moving
window). The server's password policy locks an account after its own count of failures; this
stops one address from guessing across many accounts, and slows guessing at one account."""

from __future__ import annotations

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class SignInLimiter:
    def __init__(self, per_minute: int) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.window = MovingWindowRateLimiter(MemoryStorage())

    def _keys(self, address: str, username: str) -> list[tuple[str, str]]:
        return [("address", address), ("username", username.strip().lower()[:64])]

    def allowed(self, address: str, username: str) -> bool:
        """May one more attempt be made now?"""
        return all(self.window.test(self.item, *key) for key in self._keys(address, username))

    def failed(self, address: str, username: str) -> None:
        for key in self._keys(address, username):
            self.window.hit(self.item, *key)
