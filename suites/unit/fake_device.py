"""A device written in Python, for testing the harness's client without
firmware: it speaks PROTOCOL.md over a TCP socket (the client connects with
socket://), computes with tifed_models, and can misbehave on request (NAK,
drop, duplicate or corrupt a response, hang up) to exercise the retry logic.
With protocol=2 it also speaks protocol 2 through the harness's reference
decoders (delta_code, sample_code, bitcode)."""
from __future__ import annotations

import socket
import struct
import threading
import time

import numpy as np

import tifed_models
from tifed.protocol import bitcode, delta_code, sample_code
from tifed.protocol.bitcode import CodeError
from tifed.protocol.payloads import Command, Status
from tifed.protocol.tensor_digest import tensors_digest
from tifed.protocol.frames import NAK_CODE, RESPONSE_BIT, FrameDecoder, encode_frame


class FakeDevice:
    def __init__(self, max_payload: int = 64, arena_bytes: int = 1 << 20, protocol: int = 1):
        self.max_payload = max_payload
        self.protocol = protocol
        self.arena_bytes = arena_bytes
        self.knows_weight_bits = True  # False: a firmware from before CONFIGURE's weight_bits byte
        self.weight_bits = 32
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
        self.executed: dict[str, int] = {}  # command name -> times executed
        self.bytes_received = 0
        self.bytes_sent = 0
        # Faults, each consumed as it fires.
        self.nak_requests = 0  # answer the next N frames with a NAK, unexecuted
        self.drop_responses = 0  # execute, store, but do not send the next N responses
        self.duplicate_responses = 0  # send the next N responses twice
        self.corrupt_responses = 0  # flip one byte in the next N responses
        self.slow_responses: list[float] = []  # hold the next responses back this many seconds each (a slow link)
        self.hang_up_on: str | None = None  # close the link on receiving this command
        self.has_session = True  # False: a device from before SESSION (answers UNKNOWN)
        self.session = 0  # SESSION's token: 0 as after power-on
        self._last: tuple[int, int, bytes, bytes] | None = None  # seq, code, payload, stored wire response
        self._dims: tuple[int, ...] | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=5)

    # --- link -----------------------------------------------------------------

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        decoder = FrameDecoder()
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                self.bytes_received += len(data)
                bad_before = decoder.frames_bad
                frames = decoder.feed(data)
                for _ in range(decoder.frames_bad - bad_before):
                    self._send(conn, encode_frame(0, NAK_CODE, bytes([Status.BAD_CRC])))
                for frame in frames:
                    if not self._handle(conn, frame):
                        return

    def _send(self, conn: socket.socket, wire: bytes) -> None:
        self.bytes_sent += len(wire)  # counted first: the client may finish before sendall returns
        conn.sendall(wire)

    def _handle(self, conn: socket.socket, frame) -> bool:
        if self.nak_requests:
            self.nak_requests -= 1
            self._send(conn, encode_frame(0, NAK_CODE, bytes([Status.BAD_CRC])))
            return True
        name = Command(frame.code).name if frame.code in Command._value2member_map_ else f"0x{frame.code:02X}"
        if name == self.hang_up_on:
            conn.shutdown(socket.SHUT_RDWR)
            return False
        if self._last and self._last[:3] == (frame.seq, frame.code, frame.payload):
            wire = self._last[3]  # a retransmission: answer again, do not execute
        else:
            self.executed[name] = self.executed.get(name, 0) + 1
            status, body = self._execute(frame.code, frame.payload)
            wire = encode_frame(frame.seq, frame.code | RESPONSE_BIT, bytes([status]) + body)
            self._last = (frame.seq, frame.code, frame.payload, wire)
        if self.drop_responses:
            self.drop_responses -= 1
            return True
        if self.slow_responses:
            time.sleep(self.slow_responses.pop(0))  # the device's pace, not synchronisation
        if self.corrupt_responses:
            self.corrupt_responses -= 1
            broken = bytearray(wire)
            broken[1] ^= 0x01 if broken[1] != 0x01 else 0x03  # still no zero byte: a CRC error
            self._send(conn, bytes(broken))
            return True
        self._send(conn, wire)
        if self.duplicate_responses:
            self.duplicate_responses -= 1
            self._send(conn, wire)
        return True

    # --- commands -------------------------------------------------------------

    def _execute(self, code: int, p: bytes) -> tuple[int, bytes]:
        if code == Command.IDENTIFY:
            return Status.OK, struct.pack("<BHIB", self.protocol, self.max_payload, self.arena_bytes, 0) + b"\x04fake\x04fake"
        if code == Command.SESSION and self.has_session:
            if len(p) == 4:
                (self.session,) = struct.unpack("<I", p)
            return Status.OK, struct.pack("<I", self.session)
        if code == Command.CONFIGURE:
            n_layers, buffer_cap, batch_cap = struct.unpack_from("<BHH", p)
            dims = struct.unpack_from(f"<{n_layers + 1}H", p, 5)
            fixed = 5 + 2 * (n_layers + 1)
            if len(p) not in (fixed, fixed + (1 if self.knows_weight_bits else 0)):
                return Status.BAD_LENGTH, b""
            weight_bits = p[fixed] if len(p) > fixed else 32
            need = tifed_models.arena_bytes(dims, buffer_cap, batch_cap, weight_bits)
            if need > self.arena_bytes:
                return Status.NO_ROOM, struct.pack("<II", need, self.arena_bytes)
            self._dims = dims
            self.weight_bits = weight_bits
            self.model = tifed_models.Model.zeros(dims)
            self.feedback = [np.zeros((dims[-1], d), dtype=np.int64) for d in dims[1:-1]]
            self.x = np.zeros((buffer_cap, dims[0]), dtype=np.int8)
            self.labels = np.zeros(buffer_cap, dtype=np.int64)
            return Status.OK, struct.pack("<II", need, self.arena_bytes)
        if self._dims is None:
            return Status.BAD_STATE, b""
        if code in (Command.WRITE_TENSOR, Command.READ_TENSOR):
            tensor, offset, count = struct.unpack_from("<BIH", p)
            kind, layer = tensor >> 4, tensor & 15
            target = [self.model.weights, self.model.biases, self.feedback][kind][layer]
            flat = target.reshape(-1)  # a view: writes land in the tensor
            if code == Command.READ_TENSOR:
                return Status.OK, flat[offset : offset + count].astype("<i4").tobytes()
            values = np.frombuffer(p, dtype="<i4", count=count, offset=7)
            if self._int16_only(kind) and not _fits_int16(values):
                return Status.BAD_ARGUMENT, b""
            flat[offset : offset + count] = values
            return Status.OK, b""
        if code == Command.WRITE_SAMPLES:
            first, count = struct.unpack_from("<HH", p)
            records = np.frombuffer(p, dtype=np.uint8, offset=4).reshape(count, -1)
            self.labels[first : first + count] = records[:, 0]
            self.x[first : first + count] = records[:, 1:].view(np.int8)
            return Status.OK, b""
        if code == Command.TRAIN:
            n, batch, epochs, lr_inv, layer = struct.unpack("<HHHIb", p)
            t = tifed_models.targets(self.labels[:n], self._dims[-1])
            self.model = tifed_models.train(self.model, self.feedback, self.x[:n], t, lr_inv, batch, epochs, layer,
                                            self.weight_bits)
            return Status.OK, struct.pack("<Q", 12345)
        if code == Command.PREDICT:
            first, count = struct.unpack("<HH", p)
            pred = tifed_models.predict(self.model, self.x[first : first + count])
            return Status.OK, pred.astype(np.uint8).tobytes()
        if code == Command.STATS:
            return Status.OK, struct.pack("<5I", 0, 0, 0, 0, 0)
        if self.protocol >= 2:
            return self._execute_v2(code, p)
        return Status.UNKNOWN, b""

    def _int16_only(self, kind: int) -> bool:
        """As the firmware: feedback is always int16; weights and biases are
        when CONFIGURE asked for 16-bit weights (values on the wire stay i32)."""
        return kind == 2 or self.weight_bits == 16

    def _tensor(self, tensor: int) -> np.ndarray | None:
        kind, layer = tensor >> 4, tensor & 15
        tensors = [self.model.weights, self.model.biases, self.feedback]
        if kind >= len(tensors) or layer >= len(tensors[kind]):
            return None
        return tensors[kind][layer]

    def _execute_v2(self, code: int, p: bytes) -> tuple[int, bytes]:
        if code == Command.DIGEST:
            if not p or len(p) != 1 + p[0]:
                return Status.BAD_LENGTH, b""
            tensors = [self._tensor(t) for t in p[1:]]
            if not 1 <= p[0] <= 16 or any(t is None for t in tensors):
                return Status.BAD_ARGUMENT, b""
            return Status.OK, struct.pack("<Q", tensors_digest(tensors))
        if code == Command.WRITE_DELTA:
            try:
                tensor, block, body = delta_code.parse_block(p)
            except CodeError:
                return Status.BAD_LENGTH, b""
            target = self._tensor(tensor)
            if target is None or delta_code.check_block(block, delta_code.as_matrix(target).shape) is not None:
                return Status.BAD_ARGUMENT, b""
            try:
                new = delta_code.decode_block(block, body, target)
            except CodeError:
                return Status.BAD_CODE, b""
            if self._int16_only(tensor >> 4) and not _fits_int16(new):
                return Status.BAD_ARGUMENT, b""
            target.reshape(-1)[:] = new.reshape(-1)  # in place: the model's own array
            return Status.OK, b""
        if code == Command.READ_LOW_BITS:
            tensor, offset, count, bits = struct.unpack("<BIHB", p)
            flat = self._tensor(tensor).reshape(-1)
            return Status.OK, bitcode.pack_low_bits(flat[offset : offset + count], bits)
        if code == Command.WRITE_SAMPLES_CODED:
            try:
                first, x, labels = sample_code.decode(p, self._dims[0], self._dims[-1])
            except CodeError:
                return Status.BAD_CODE, b""
            self.x[first : first + len(x)] = x
            self.labels[first : first + len(x)] = labels
            return Status.OK, b""
        return Status.UNKNOWN, b""


def _fits_int16(values: np.ndarray) -> bool:
    return values.size == 0 or (int(values.min()) >= -32768 and int(values.max()) <= 32767)
