"""Code written against asynq's API: pyanalyze must infer what each `yield` gives back.

Each `# expect:` comment names the finding pyanalyze reports on its line (code: description).
"""

from __future__ import annotations

from typing_extensions import reveal_type

from asynq import asynq
from asynq.tools import afilter, amap, asift, asorted


@asynq()
def double(x: int) -> int:
    return x * 2


@asynq()
def describe(x: int) -> str:
    doubled = yield double.asynq(x)
    return f"{x} doubles to {doubled}"


class Account:
    def __init__(self, balance: int) -> None:
        self.balance = balance

    @asynq()
    def balance_in(self, currency: str) -> float:
        return self.balance * 1.5

    @classmethod
    @asynq()
    def default_currency(cls) -> bytes:
        return b"EUR"

    @asynq()
    @staticmethod
    def fee(amount: int) -> int:
        return amount // 100


@asynq()
def report(account: Account) -> str:
    one = yield double.asynq(1)
    reveal_type(one)  # expect: reveal_type: Revealed type is 'int'
    text = yield describe.asynq(2)
    reveal_type(text)  # expect: reveal_type: Revealed type is 'str'
    balance = yield account.balance_in.asynq("USD")
    reveal_type(balance)  # expect: reveal_type: Revealed type is 'float'
    currency = yield Account.default_currency.asynq()
    reveal_type(currency)  # expect: reveal_type: Revealed type is 'bytes'
    fee = yield Account.fee.asynq(300)
    reveal_type(fee)  # expect: reveal_type: Revealed type is 'int'
    both = yield double.asynq(3), describe.asynq(4)
    reveal_type(both)  # expect: reveal_type: Revealed type is 'tuple[int, str]'
    return f"{one} {text} {balance} {currency!r} {fee} {both}"


@asynq()
def tools(numbers: list[int]) -> int:
    doubled = yield amap.asynq(double, numbers)
    reveal_type(doubled)  # expect: reveal_type: Revealed type is 'list[int]'
    kept = yield afilter.asynq(double, numbers)
    reveal_type(kept)  # expect: reveal_type: Revealed type is 'list[int]'
    ordered = yield asorted.asynq(numbers, key=double)
    reveal_type(ordered)  # expect: reveal_type: Revealed type is 'list[int]'
    split = yield asift.asynq(double, numbers)
    reveal_type(split)  # expect: reveal_type: Revealed type is 'tuple[list[int], list[int]]'
    return len(doubled) + len(kept) + len(ordered) + len(split)
