"""Process messages at least once: ACK when handled; when handling fails,
NACK (the message goes back to the head of the queue for another worker)
and stop, as `sluice reserve` does.  Ends when the queue is closed and
drained (protocol 1.1).

    python3 worker.py jobs
"""

import sys

import sluice


def handle(body: bytes) -> None:
    if body == b"boom":
        raise ValueError("cannot handle this one")
    print(body.decode(errors="replace"))


def main() -> None:
    queue = sys.argv[1] if len(sys.argv) > 1 else "jobs"
    with sluice.Client("127.0.0.1", 7470) as client:
        try:
            for msg in client.consume(queue, reserve=True):
                with msg:               # ACK on success, NACK on error
                    handle(msg.body)
        except ValueError as e:
            sys.exit(f"message {msg.id} given back: {e}")


if __name__ == "__main__":
    main()
