"""Put each line of stdin into a queue, pipelined; a full `block` queue
holds this program (and so its stdin) until consumers make room.

    python3 producer.py jobs < lines.txt
"""

import sys

import sluice


def main() -> None:
    queue = sys.argv[1] if len(sys.argv) > 1 else "jobs"
    with sluice.Client("127.0.0.1", 7470) as client:
        lines = (line.rstrip(b"\n") for line in sys.stdin.buffer)
        n = 0
        for _id in client.put_many(queue, lines):
            n += 1
        print(f"queued {n} messages", file=sys.stderr)


if __name__ == "__main__":
    main()
