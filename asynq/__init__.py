"""asynq: write cache-reading code once; the scheduler batches its reads.

Decorate a generator with ``@asynq()`` and yield the futures it depends on
(``name = yield name_of_user.asynq(uid)``). Every task that can make progress runs before any batch
flushes, so independent reads become one multi-get per level of the dependency graph.
"""

import sys as _sys

from . import (
    async_task,
    asyncio_interop,
    asynq_to_async,
    batching,
    contexts,
    debug,
    decorators,
    futures,
    generator,
    instruments,
    loaders,
    lowlevel,
    priming,
    profiler,
    scheduler,
    scoped_value,
    stats,
    tools,
    trace_env,
    trace_export,
    tracing,
    utils,
)
from . import mock_ as mock
from .async_task import AsyncTask, AsyncTaskCancelledError, AsyncTaskResult
from .asyncio_interop import is_asyncio_mode
from .batching import (
    BatchBase,
    BatchCancelledError,
    BatchingError,
    BatchItemBase,
    DebugBatchItem,
)
from .contexts import AsyncContext, NonAsyncContext
from .decorators import (
    async_call,
    async_proxy,
    asynq,
    get_async_fn,
    get_async_or_sync_fn,
    has_async_fn,
    is_async_fn,
    is_pure_async_fn,
    lazy,
    make_async_decorator,
)
from .futures import (
    ConstFuture,
    ErrorFuture,
    Future,
    FutureBase,
    FutureIsAlreadyComputed,
    none_future,
)
from .generator import END_OF_GENERATOR, Value, async_generator, list_of_generator, take_first
from .loaders import Loader, concurrent_batch, loader
from .scheduler import AsyncTaskError, TaskScheduler, get_active_task, get_scheduler
from .scoped_value import AsyncScopedValue, async_override
from .tracing import trace
from .utils import result

_sys.modules[__name__ + ".mock"] = mock  # `import asynq.mock` and `from asynq.mock import patch`

__version__ = "2.0.0.dev0"

__all__ = [
    "async_task",
    "asyncio_interop",
    "asynq_to_async",
    "batching",
    "contexts",
    "debug",
    "decorators",
    "futures",
    "generator",
    "loaders",
    "lowlevel",
    "priming",
    "profiler",
    "scheduler",
    "scoped_value",
    "stats",
    "tools",
    "tracing",
    "instruments",
    "trace_export",
    "trace_env",
    "utils",
    "mock",
    "AsyncTask",
    "AsyncTaskCancelledError",
    "AsyncTaskResult",
    "BatchBase",
    "BatchCancelledError",
    "BatchingError",
    "BatchItemBase",
    "DebugBatchItem",
    "AsyncContext",
    "NonAsyncContext",
    "async_call",
    "async_proxy",
    "asynq",
    "get_async_fn",
    "get_async_or_sync_fn",
    "has_async_fn",
    "is_async_fn",
    "is_pure_async_fn",
    "lazy",
    "make_async_decorator",
    "ConstFuture",
    "ErrorFuture",
    "Future",
    "FutureBase",
    "FutureIsAlreadyComputed",
    "none_future",
    "AsyncTaskError",
    "TaskScheduler",
    "get_active_task",
    "get_scheduler",
    "AsyncScopedValue",
    "async_override",
    "result",
    "is_asyncio_mode",
    "END_OF_GENERATOR",
    "Value",
    "async_generator",
    "list_of_generator",
    "take_first",
    "Loader",
    "loader",
    "concurrent_batch",
    "trace",
]

# ASYNQ_TRACE=dir traces the importing thread until exit (see asynq.trace_env).
trace_env.start_from_environment()
