"""sluice: Python client for the sluice message broker.

``Client`` is blocking, ``AsyncClient`` is for asyncio; both speak the
sluice line protocol (version 1.1) over one pipelined connection.
``ShardedClient`` and ``AsyncShardedClient`` spread queues over several
replication groups (:mod:`sluice.shard`).  Errors are typed
(``sluice.Full``, ``sluice.NoQueue``, ...), see :mod:`sluice.errors`.
"""

from .aio import AsyncClient, AsyncPipeline
from .client import Client, Pending, Pipeline
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors
from .protocol import AsyncMessage, Message, Reply
from .sharded import AsyncShardedClient, ShardedClient

__version__ = "0.1.0"
__all__ = ["Client", "AsyncClient", "ShardedClient", "AsyncShardedClient",
           "Pipeline", "AsyncPipeline", "Pending",
           "Message", "AsyncMessage", "Reply", *_errors]
