"""Mistakes pyanalyze must catch in asynq code.

Each `# expect:` comment names the finding pyanalyze reports on its line (code: description).
"""

from __future__ import annotations

from asynq import ConstFuture, FutureBase, async_proxy, asynq


@asynq()
def load_name(user_id: int) -> str:
    return f"user {user_id}"


@async_proxy()
def load_cached_name(user_id: int) -> FutureBase[str]:
    return ConstFuture(f"user {user_id}")


class Profile:
    @asynq()
    def title(self, user_id: int) -> str:
        return "Dr"


@asynq()
def forgets_to_yield(user_id: int) -> str:
    return load_name.asynq(user_id)  # expect: incompatible_return_value: Incompatible return type: expected str, got asynq.async_task.AsyncTask[str]


# Without a return annotation, pyanalyze reports the task returned unyielded on the `def` line.
@asynq()
def forgets_to_yield_unannotated(user_id: int):  # expect: task_needs_yield: You probably forgot to yield an async task
    return load_name.asynq(user_id)


@asynq()
def drops_a_task(user_id: int) -> None:
    load_name.asynq(user_id)  # expect: task_needs_yield: You probably forgot to yield an async task
    yield load_name.asynq(user_id + 1)


@asynq()
def calls_synchronously(profile: Profile, user_id: int) -> str:
    name = load_name(user_id)  # expect: impure_async_call: impure async call (you should yield {module}.load_name.asynq)
    title = profile.title(user_id)  # expect: impure_async_call: impure async call (you should yield {module}.Profile.title.asynq)
    cached = load_cached_name(user_id)  # expect: impure_async_call: impure async call (you should yield {module}.load_cached_name.asynq)
    return f"{title} {name} {cached}"


@asynq()
def does_it_right(profile: Profile, user_id: int) -> str:
    name, title, cached = yield (
        load_name.asynq(user_id),
        profile.title.asynq(user_id),
        load_cached_name.asynq(user_id),
    )
    return f"{title} {name} {cached}"
