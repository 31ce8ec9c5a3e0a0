"""asyncio: one task takes from `raw`, transforms, and puts into
`upper`; both queues stay within their bounds, because the put's await
does not return while `upper` is full.

    python3 pipeline.py raw upper
"""

import asyncio
import sys

import sluice


async def main() -> None:
    src = sys.argv[1] if len(sys.argv) > 1 else "raw"
    dst = sys.argv[2] if len(sys.argv) > 2 else "upper"
    # Two connections: a waiting GET must not hold up the PUTs.
    async with sluice.AsyncClient() as inbox, sluice.AsyncClient() as out:
        async for msg in inbox.consume(src, reserve=True, timeout=5):
            async with msg:
                await out.put(dst, msg.body.upper())


if __name__ == "__main__":
    asyncio.run(main())
