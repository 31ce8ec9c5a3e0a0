"""The protocol layer without a server: answer parsing, typed errors,
request validation."""

import unittest

import harness  # noqa: F401  (puts src/ on the path)
import sluice
from sluice import protocol as P


def parse(data: bytes):
    p = P.Parser()
    p.feed(data)
    out = []
    while (r := p.next()) is not None:
        out.append(r)
    return out, p


class ParserTest(unittest.TestCase):
    def test_answers_split_anywhere(self):
        data = (b"200 QUEUED 7\r\n200 MSG 9223372036854775807 5\r\nab\r\nc\r\n"
                b"204 EMPTY\n200 JSON 2\r\n{}\r\n"
                b"503 FULL jobs retry_after_ms=40 future=x\r\n")
        whole, _ = parse(data)
        p = P.Parser()
        bytewise = []
        for i in range(len(data)):
            p.feed(data[i:i + 1])
            while (r := p.next()) is not None:
                bytewise.append(r)
        self.assertEqual(whole, bytewise)
        self.assertEqual([r.code for r in whole], [200, 200, 204, 200, 503])
        self.assertEqual(whole[1].body, b"ab\r\nc")
        self.assertEqual(P.message_decoder("q", False)(whole[1]).id, 2**63 - 1)
        self.assertEqual(whole[4].args, ["jobs"])
        self.assertEqual(whole[4].hints,
                         {"retry_after_ms": "40", "future": "x"})

    def test_garbage_is_a_protocol_error(self):
        for bad in (b"hello\r\n", b"20 OK\r\n", b"200\r\n",
                    b"200 MSG 1 x\r\n", b"200 MSG 1 2\r\nabX\r\n"):
            with self.subTest(bad=bad), self.assertRaises(sluice.ProtocolError):
                parse(bad)

    def test_endless_line_is_a_protocol_error(self):
        p = P.Parser()
        p.feed(b"2" * (P.MAX_ANSWER_LINE + 10))
        with self.assertRaises(sluice.ProtocolError):
            p.next()


class ErrorTest(unittest.TestCase):
    CASES = [
        (b"400 BAD_REQUEST unknown command", sluice.BadRequest),
        (b"401 UNAUTHORIZED", sluice.Unauthorized),
        (b"403 FORBIDDEN", sluice.Forbidden),
        (b"404 NO_QUEUE jobs", sluice.NoQueue),
        (b"404 NO_MSG 12", sluice.NoMessage),
        (b"409 CONFLICT jobs", sluice.Conflict),
        (b"410 CLOSED jobs", sluice.Closed),
        (b"413 TOO_LARGE 1048576", sluice.TooLarge),
        (b"500 INTERNAL oops", sluice.InternalError),
        (b"503 FULL jobs retry_after_ms=250", sluice.Full),
        (b"503 BUSY", sluice.ServerBusy),
        (b"503 SHUTTING_DOWN", sluice.ShuttingDown),
        (b"503 NOT_LEADER leader=10.0.0.2:7470", sluice.NotLeader),
        (b"503 NOT_LEADER", sluice.NotLeader),
        (b"503 TOO_MANY_RESERVED", sluice.TooManyReserved),
        (b"503 TOO_MANY_QUEUES", sluice.TooManyQueues),
        (b"418 TEAPOT", sluice.RequestError),
        (b"599 SOMETHING_NEW x=y", sluice.RetryLater),
    ]

    def test_every_refusal_has_its_type(self):
        for line, cls in self.CASES:
            with self.subTest(line=line):
                (r,), _ = parse(line + b"\r\n")
                with self.assertRaises(cls) as cm:
                    P.decode_status(r)
                e = cm.exception
                self.assertIs(type(e), cls)
                self.assertEqual(e.code, int(line[:3]))
                self.assertEqual(e.token, line.split()[1].decode())
                want = (sluice.RequestError if e.code < 500
                        else sluice.RetryLater)
                self.assertIsInstance(e, want)

    def test_arguments_and_hints(self):
        def err(line):
            (r,), _ = parse(line + b"\r\n")
            try:
                P.decode_status(r)
            except sluice.ServerError as e:
                return e
        self.assertEqual(err(b"503 FULL jobs retry_after_ms=250 x=1")
                         .retry_after_ms, 250)
        self.assertIsNone(err(b"503 FULL jobs").retry_after_ms)
        self.assertEqual(err(b"503 FULL jobs").queue, "jobs")
        self.assertEqual(err(b"413 TOO_LARGE 1048576").limit, 1048576)
        self.assertEqual(err(b"404 NO_MSG 12").id, 12)
        self.assertEqual(err(b"404 NO_QUEUE jobs").queue, "jobs")
        self.assertEqual(err(b"503 NOT_LEADER leader=h:1 term=9").leader,
                         "h:1")
        self.assertIsNone(err(b"503 NOT_LEADER").leader)
        self.assertEqual(err(b"400 BAD_REQUEST bad queue name").reason,
                         "bad queue name")


class EncodingTest(unittest.TestCase):
    def test_bad_input_is_refused_before_sending(self):
        c = sluice.Client(port=1)  # never connects: refused first
        for name in ("", "a b", "x" * 129, "é", "tab\t", "new\nline"):
            with self.subTest(name=name), self.assertRaises(ValueError):
                c.put(name, b"x")
        with self.assertRaises(TypeError):
            c.put(b"bytes-name", b"x")
        with self.assertRaises(TypeError):
            c.put("q", 12)
        with self.assertRaises(ValueError):
            c.ack(-1)
        with self.assertRaises(ValueError):
            c.ack(2**63)
        with self.assertRaises(ValueError):
            c.create("q", policy="blok")
        with self.assertRaises(ValueError):
            c.create("q", storage="tape")
        with self.assertRaises(ValueError):
            c.get("q", timeout=-1)
        with self.assertRaises(ValueError):
            sluice.Client(window=0)

    def test_put_encoding(self):
        self.assertEqual(P.encode_put(b"q", b"a\r\nb", None),
                         b"PUT q 4\r\na\r\nb\r\n")
        self.assertEqual(P.encode_put(b"q", b"", 0), b"PUT q 0 0\r\n\r\n")


if __name__ == "__main__":
    unittest.main()
