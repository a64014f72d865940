#!/usr/bin/env python3
"""
Two real iSCSI initiators (libiscsi, through ctypes) talking to two target nodes that export one
logical unit, to check that the SCSI state is one state across the nodes.

  multipath-scsi-initiator.py sequence URL_A URL_B
      Initiator A logs in through URL_A (node A), initiator B through URL_B (node B), with
      different initiator names (two hosts sharing a disk through different target nodes):
        1. A and B REGISTER, A RESERVEs WRITE EXCLUSIVE;
        2. a WRITE through B gets RESERVATION CONFLICT (a READ through B is GOOD);
        3. B PREEMPTs A's key (B is registered): GOOD;
        4. A then gets UNIT ATTENTION 2A/05 (registrations preempted) or 2A/03, and its WRITE
           RESERVATION CONFLICT;
        5. a LUN RESET through A raises a UNIT ATTENTION 29/xx on B (TEST UNIT READY through B);
        6. rounds of two COMPARE AND WRITEs of one LBA sent at once through A and B (who sends
           first alternates): exactly one GOOD, the other CHECK CONDITION MISCOMPARE (1D/00), and
           both nodes read the winner's bytes.
      Given the same URL twice (both initiators on one node) every step passes: that is the
      control showing the expectations are right where the state is local.
  multipath-scsi-initiator.py alua URL_A URL_B
        1. REPORT TARGET PORT GROUPS through A and B: byte-identical, every node's group listed;
        2. SET TARGET PORT GROUPS through A (the highest group: active/optimized becomes
           active/non-optimized, anything else becomes active/optimized): GOOD;
        3. RTPG through A and B again: byte-identical, changed, the group in the state asked for.

Every step prints one line, "[PASS] step: what happened" or "[FAIL] step: what happened", and the
steps go on after a failure, so one run shows the whole picture. The last line is
"RESULT: N passed, M failed". Exit status: 0 all passed, 1 a step failed, 2 the setup failed
(libiscsi missing, no login).

libiscsi is used as installed (Debian libiscsi7, no headers needed): the struct scsi_task offsets
below are those of libiscsi 1.19/1.20 on LP64 (status at 0, sense at 48, datain at 64).
"""

import ctypes
import ctypes.util
import select
import sys
from urllib.parse import urlparse

# ---- libiscsi ------------------------------------------------------------------------------------


class ScsiSense(ctypes.Structure):
    # error_type, key, ascq (ASC << 8 | ASCQ), then bit fields and pointers we do not read.
    _fields_ = [
        ("error_type", ctypes.c_ubyte),
        ("key", ctypes.c_int),
        ("ascq", ctypes.c_int),
        ("_specific", ctypes.c_ubyte * 4),
    ]


class ScsiData(ctypes.Structure):
    _fields_ = [("size", ctypes.c_int), ("data", ctypes.POINTER(ctypes.c_ubyte))]


class ScsiTask(ctypes.Structure):
    # The leading part of struct scsi_task (scsi-lowlevel.h); libiscsi allocates the whole.
    _fields_ = [
        ("status", ctypes.c_int),
        ("cdb_size", ctypes.c_int),
        ("xfer_dir", ctypes.c_int),
        ("expxferlen", ctypes.c_int),
        ("cdb", ctypes.c_ubyte * 16),
        ("residual_status", ctypes.c_int),
        ("residual", ctypes.c_size_t),
        ("sense", ScsiSense),
        ("datain", ScsiData),
    ]


class IscsiData(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("data", ctypes.c_void_p)]


class ProutBasic(ctypes.Structure):
    _fields_ = [
        ("reservation_key", ctypes.c_uint64),
        ("service_action_reservation_key", ctypes.c_uint64),
        ("spec_i_pt", ctypes.c_uint8),
        ("all_tg_pt", ctypes.c_uint8),
        ("aptpl", ctypes.c_uint8),
    ]


TaskP = ctypes.POINTER(ScsiTask)
CommandCb = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

GOOD = 0
CHECK_CONDITION = 2
RESERVATION_CONFLICT = 0x18
STATUS_NAMES = {
    0: "GOOD",
    2: "CHECK CONDITION",
    4: "CONDITION MET",
    8: "BUSY",
    0x18: "RESERVATION CONFLICT",
    0x28: "TASK SET FULL",
    0x30: "ACA ACTIVE",
    0x40: "TASK ABORTED",
    0x0F000000: "CANCELLED (libiscsi)",
    0x0F000001: "ERROR (libiscsi)",
    0x0F000002: "TIMEOUT (libiscsi)",
}
SENSE_KEYS = {
    0: "NO SENSE",
    1: "RECOVERED ERROR",
    2: "NOT READY",
    3: "MEDIUM ERROR",
    4: "HARDWARE ERROR",
    5: "ILLEGAL REQUEST",
    6: "UNIT ATTENTION",
    7: "DATA PROTECT",
    0xB: "ABORTED COMMAND",
    0xE: "MISCOMPARE",
}
UNIT_ATTENTION = 6
MISCOMPARE = 0xE
XFER_NONE, XFER_READ, XFER_WRITE = 0, 1, 2

PR_REGISTER, PR_RESERVE, PR_CLEAR, PR_PREEMPT, PR_REGISTER_AND_IGNORE = 0, 1, 3, 4, 6
PR_WRITE_EXCLUSIVE = 1

ALUA_STATES = {
    0x0: "active/optimized",
    0x1: "active/non-optimized",
    0x2: "standby",
    0x3: "unavailable",
    0x4: "lba-dependent",
    0xE: "offline",
    0xF: "transitioning",
}


def load_libiscsi():
    names = ["libiscsi.so.7", "libiscsi.so"]
    found = ctypes.util.find_library("iscsi")
    if found:
        names.insert(0, found)
    last = None
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError as error:
            last = error
    raise SystemExit(f"setup: cannot load libiscsi ({last}); install Debian package libiscsi7")


lib = load_libiscsi()
lib.iscsi_create_context.restype = ctypes.c_void_p
lib.iscsi_create_context.argtypes = [ctypes.c_char_p]
lib.iscsi_set_targetname.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
lib.iscsi_set_session_type.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.iscsi_full_connect_sync.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
lib.iscsi_get_error.restype = ctypes.c_char_p
lib.iscsi_get_error.argtypes = [ctypes.c_void_p]
lib.iscsi_get_fd.argtypes = [ctypes.c_void_p]
lib.iscsi_which_events.argtypes = [ctypes.c_void_p]
lib.iscsi_service.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.iscsi_logout_sync.argtypes = [ctypes.c_void_p]
lib.iscsi_destroy_context.argtypes = [ctypes.c_void_p]
lib.iscsi_testunitready_sync.restype = TaskP
lib.iscsi_testunitready_sync.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.iscsi_readcapacity10_sync.restype = TaskP
lib.iscsi_readcapacity10_sync.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
lib.iscsi_read16_sync.restype = TaskP
lib.iscsi_read16_sync.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint32]
lib.iscsi_read16_sync.argtypes += [ctypes.c_int] * 6
lib.iscsi_write16_sync.restype = TaskP
lib.iscsi_write16_sync.argtypes = [
    ctypes.c_void_p,
    ctypes.c_int,
    ctypes.c_uint64,
    ctypes.c_char_p,
    ctypes.c_uint32,
] + [ctypes.c_int] * 6
lib.iscsi_persistent_reserve_out_sync.restype = TaskP
lib.iscsi_persistent_reserve_out_sync.argtypes = [
    ctypes.c_void_p,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_void_p,
]
lib.iscsi_task_mgmt_lun_reset_sync.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
lib.iscsi_compareandwrite_task.restype = TaskP
lib.iscsi_compareandwrite_task.argtypes = [
    ctypes.c_void_p,
    ctypes.c_int,
    ctypes.c_uint64,
    ctypes.c_char_p,
    ctypes.c_uint32,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    CommandCb,
    ctypes.c_void_p,
]
lib.scsi_create_task.restype = TaskP
lib.scsi_create_task.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
lib.iscsi_scsi_command_sync.restype = TaskP
lib.iscsi_scsi_command_sync.argtypes = [ctypes.c_void_p, ctypes.c_int, TaskP, ctypes.POINTER(IscsiData)]
lib.scsi_free_scsi_task.argtypes = [TaskP]


class Outcome:
    """What a SCSI command came back with, copied out of the libiscsi task (which is then freed)."""

    def __init__(self, task, error=None):
        if not task:
            self.status = None
            self.key = self.asc = self.ascq = None
            self.data = b""
            self.error = error or "no task (transport error)"
            return
        t = task.contents
        self.status = t.status
        self.key = t.sense.key if t.status == CHECK_CONDITION else None
        self.asc = (t.sense.ascq >> 8) & 0xFF if t.status == CHECK_CONDITION else None
        self.ascq = t.sense.ascq & 0xFF if t.status == CHECK_CONDITION else None
        size = t.datain.size if t.datain.data else 0
        self.data = bytes(ctypes.string_at(t.datain.data, size)) if size > 0 else b""
        self.error = None
        lib.scsi_free_scsi_task(task)

    def is_ua(self):
        return self.status == CHECK_CONDITION and self.key == UNIT_ATTENTION

    def __str__(self):
        if self.status is None:
            return f"no answer ({self.error})"
        name = STATUS_NAMES.get(self.status, f"status 0x{self.status:x}")
        if self.status == CHECK_CONDITION:
            key = SENSE_KEYS.get(self.key, f"key 0x{self.key:x}")
            return f"{name} {key} {self.asc:02X}/{self.ascq:02X}"
        return name


class Initiator:
    def __init__(self, label, url, initiator_name):
        parsed = urlparse(url)
        if parsed.scheme != "iscsi":
            raise SystemExit(f"setup: {url} is not an iscsi:// URL")
        parts = parsed.path.strip("/").split("/")
        if len(parts) != 2:
            raise SystemExit(f"setup: {url}: write iscsi://HOST:PORT/IQN/LUN")
        self.label = label
        self.url = url
        self.portal = parsed.netloc
        self.iqn = parts[0]
        self.lun = int(parts[1])
        self.name = initiator_name
        self.ctx = lib.iscsi_create_context(initiator_name.encode())
        if not self.ctx:
            raise SystemExit(f"setup: iscsi_create_context failed for {label}")
        lib.iscsi_set_targetname(self.ctx, self.iqn.encode())
        lib.iscsi_set_session_type(self.ctx, 2)  # ISCSI_SESSION_NORMAL
        if lib.iscsi_full_connect_sync(self.ctx, self.portal.encode(), self.lun) != 0:
            raise SystemExit(f"setup: {label} cannot log in to {url}: {self.error()}")

    def error(self):
        message = lib.iscsi_get_error(self.ctx)
        return message.decode(errors="replace") if message else "?"

    def _outcome(self, task):
        return Outcome(task, None if task else self.error())

    def tur(self):
        return self._outcome(lib.iscsi_testunitready_sync(self.ctx, self.lun))

    def read16(self, lba, blocks, block_size):
        return self._outcome(lib.iscsi_read16_sync(self.ctx, self.lun, lba, blocks * block_size, block_size, 0, 0, 0, 0, 0))

    def write16(self, lba, data, block_size):
        return self._outcome(lib.iscsi_write16_sync(self.ctx, self.lun, lba, data, len(data), block_size, 0, 0, 0, 0, 0))

    def prout(self, action, key, sa_key=0, rtype=0):
        params = ProutBasic(key, sa_key, 0, 0, 0)
        task = lib.iscsi_persistent_reserve_out_sync(self.ctx, self.lun, action, 0, rtype, ctypes.byref(params))
        return self._outcome(task)

    def lun_reset(self):
        return lib.iscsi_task_mgmt_lun_reset_sync(self.ctx, self.lun)

    def raw(self, cdb, direction, transfer, data_out=None):
        task = lib.scsi_create_task(len(cdb), bytes(cdb), direction, transfer)
        if not task:
            return Outcome(None, "scsi_create_task failed")
        out = None
        if data_out is not None:
            buffer = ctypes.create_string_buffer(bytes(data_out), len(data_out))
            out = IscsiData(len(data_out), ctypes.cast(buffer, ctypes.c_void_p))
        result = lib.iscsi_scsi_command_sync(self.ctx, self.lun, task, ctypes.byref(out) if out else None)
        if not result:
            error = self.error()
            lib.scsi_free_scsi_task(task)
            return Outcome(None, error)
        return Outcome(result)

    def until_good(self, command, attempts=8):
        """Runs command until it is not a UNIT ATTENTION; returns (the UAs seen, the last outcome)."""
        seen = []
        outcome = command()
        while outcome.is_ua() and len(seen) < attempts:
            seen.append(outcome)
            outcome = command()
        return seen, outcome

    def service_idle(self):
        """Answers anything the target sent meanwhile (NOP-In pings) without waiting."""
        poller = select.poll()
        poller.register(lib.iscsi_get_fd(self.ctx), lib.iscsi_which_events(self.ctx))
        for _, revents in poller.poll(0):
            lib.iscsi_service(self.ctx, revents)

    def close(self):
        lib.iscsi_logout_sync(self.ctx)
        lib.iscsi_destroy_context(self.ctx)


# ---- reporting -----------------------------------------------------------------------------------

results = []


def step(name, ok, detail):
    results.append(ok)
    print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}", flush=True)
    return ok


def note(text):
    print(f"       {text}", flush=True)


def describe_uas(uas):
    return ", ".join(str(ua).replace("CHECK CONDITION UNIT ATTENTION ", "UA ") for ua in uas) or "none"


def finish():
    passed = sum(1 for ok in results if ok)
    failed = len(results) - passed
    print(f"RESULT: {passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 else 1)


def block_size_of(initiator):
    _, capacity = initiator.until_good(lambda: Outcome(lib.iscsi_readcapacity10_sync(initiator.ctx, initiator.lun, 0, 0)))
    if capacity.status != GOOD or len(capacity.data) < 8:
        raise SystemExit(f"setup: READ CAPACITY(10) through {initiator.label}: {capacity}")
    return int.from_bytes(capacity.data[4:8], "big")


def clear_reservations(a, b, key_a, key_b):
    """Whatever a step left: each initiator takes a key regardless and CLEARs (on every node)."""
    for initiator, key in ((a, key_a), (b, key_b)):
        initiator.until_good(initiator.tur)
        initiator.prout(PR_REGISTER_AND_IGNORE, 0, key)
        initiator.prout(PR_CLEAR, key)
    for initiator in (a, b):
        initiator.until_good(initiator.tur)


# ---- sequence ------------------------------------------------------------------------------------

KEY_A = 0xA1A1A1A1
KEY_B = 0xB2B2B2B2
CAW_ROUNDS = 8
CAW_LBA = 4096


def run_compare_and_write_round(a, b, lba, block_size, index):
    initial = bytes([0x30 + index % 64]) * block_size
    pattern_a = bytes([0xA0 + index % 16]) * block_size
    pattern_b = bytes([0xB0 + index % 16]) * block_size
    seeded = a.write16(lba, initial, block_size)
    if seeded.status != GOOD:
        return f"round {index}: the seed WRITE through A failed: {seeded}", False
    outcomes = {}
    buffers = {}
    callbacks = {}

    def on_done(label):
        def done(_ctx, status, command_data, _private):
            task = ctypes.cast(command_data, TaskP) if command_data else None
            outcomes[label] = Outcome(task) if task else Outcome(None, f"status {status}, no task")

        return CommandCb(done)

    tasks = {}
    # Who sends first alternates, so each node gets to be the one that wins and the one that loses.
    senders = [("A", a, pattern_a), ("B", b, pattern_b)]
    if index % 2 == 1:
        senders.reverse()
    for label, initiator, pattern in senders:
        buffers[label] = initial + pattern
        callbacks[label] = on_done(label)
        tasks[label] = lib.iscsi_compareandwrite_task(
            initiator.ctx,
            initiator.lun,
            lba,
            buffers[label],
            len(buffers[label]),
            block_size,
            0,
            0,
            0,
            0,
            0,
            callbacks[label],
            None,
        )
        if not tasks[label]:
            return f"round {index}: COMPARE AND WRITE through {label} was not sent: {initiator.error()}", False
        # libiscsi only queues the PDU; write it out now, so the first sender really is first.
        lib.iscsi_service(initiator.ctx, select.POLLOUT)
    by_fd = {lib.iscsi_get_fd(i.ctx): i for i in (a, b)}
    rounds = 0
    while len(outcomes) < 2 and rounds < 2000:
        rounds += 1
        poller = select.poll()
        for fd, initiator in by_fd.items():
            poller.register(fd, lib.iscsi_which_events(initiator.ctx))
        for fd, revents in poller.poll(50):
            if lib.iscsi_service(by_fd[fd].ctx, revents) < 0:
                return f"round {index}: iscsi_service failed: {by_fd[fd].error()}", False
    if len(outcomes) < 2:
        return f"round {index}: only {sorted(outcomes)} answered within 100 s", False
    a_out, b_out = outcomes["A"], outcomes["B"]
    good = [label for label, o in outcomes.items() if o.status == GOOD]
    miscompare = [
        label
        for label, o in outcomes.items()
        if o.status == CHECK_CONDITION and o.key == MISCOMPARE and o.asc == 0x1D and o.ascq == 0x00
    ]
    detail = f"round {index} ({senders[0][0]} sent first): A {a_out}, B {b_out}"
    ok = len(good) == 1 and len(miscompare) == 1
    if ok:
        winner = pattern_a if good[0] == "A" else pattern_b
        for label, initiator in (("A", a), ("B", b)):
            _, read = initiator.until_good(lambda i=initiator: i.read16(lba, 1, block_size))
            if read.status != GOOD or read.data != winner:
                ok = False
                found = read.data[:1].hex() if read.data else "nothing"
                detail += f"; READ through {label} {read} found {found}, not {good[0]}'s bytes"
    return detail, ok


def sequence(url_a, url_b):
    a = Initiator("A", url_a, "iqn.2026-11.org.collie.test:initiator-a")
    b = Initiator("B", url_b, "iqn.2026-11.org.collie.test:initiator-b")
    print(f"A: {a.name} -> {url_a}\nB: {b.name} -> {url_b}", flush=True)
    block_size = block_size_of(a)
    clear_reservations(a, b, KEY_A, KEY_B)
    data = bytes([0x5A]) * block_size

    # 1. register both, reserve through A
    outcome = a.prout(PR_REGISTER, 0, KEY_A)
    step("A REGISTER", outcome.status == GOOD, str(outcome))
    outcome = b.prout(PR_REGISTER, 0, KEY_B)
    step("B REGISTER", outcome.status == GOOD, str(outcome))
    outcome = a.prout(PR_RESERVE, KEY_A, 0, PR_WRITE_EXCLUSIVE)
    step("A RESERVE WRITE EXCLUSIVE", outcome.status == GOOD, str(outcome))

    # 2. B may read, not write
    b.service_idle()
    uas, outcome = b.until_good(lambda: b.write16(CAW_LBA - 8, data, block_size))
    step(
        "WRITE through B while A holds WRITE EXCLUSIVE",
        outcome.status == RESERVATION_CONFLICT,
        f"{outcome} (expected RESERVATION CONFLICT; UAs first: {describe_uas(uas)})",
    )
    uas, outcome = b.until_good(lambda: b.read16(CAW_LBA - 8, 1, block_size))
    step("READ through B while A holds WRITE EXCLUSIVE", outcome.status == GOOD, f"{outcome} (expected GOOD)")

    # 3. B preempts A
    outcome = b.prout(PR_PREEMPT, KEY_B, KEY_A, PR_WRITE_EXCLUSIVE)
    step("B PREEMPT A's key", outcome.status == GOOD, f"{outcome} (expected GOOD)")

    # 4. A learns it was preempted
    a.service_idle()
    uas, last = a.until_good(a.tur)
    preempted = [ua for ua in uas if ua.asc == 0x2A and ua.ascq in (0x05, 0x03)]
    step(
        "A's next command reports the preemption",
        len(preempted) > 0,
        f"UAs: {describe_uas(uas)}, then {last} (expected UA 2A/05 or 2A/03)",
    )
    uas, outcome = a.until_good(lambda: a.write16(CAW_LBA - 8, data, block_size))
    step(
        "WRITE through A after the preemption",
        outcome.status == RESERVATION_CONFLICT,
        f"{outcome} (expected RESERVATION CONFLICT: B holds WRITE EXCLUSIVE; UAs first: {describe_uas(uas)})",
    )

    # 5. LUN RESET through A reaches B
    a.until_good(a.tur)
    b.until_good(b.tur)
    result = a.lun_reset()
    step("LUN RESET through A", result == 0, "function complete" if result == 0 else f"failed: {a.error()}")
    b.service_idle()
    uas, last = b.until_good(b.tur)
    reset = [ua for ua in uas if ua.asc == 0x29]
    step(
        "TEST UNIT READY through B after the LUN RESET through A",
        len(reset) > 0,
        f"UAs: {describe_uas(uas)}, then {last} (expected UA 29/xx)",
    )
    uas, last = a.until_good(a.tur)
    note(f"A after its own LUN RESET: UAs {describe_uas(uas)}, then {last}")

    # 6. concurrent COMPARE AND WRITE through both nodes
    clear_reservations(a, b, KEY_A, KEY_B)
    for index in range(CAW_ROUNDS):
        a.service_idle()
        b.service_idle()
        detail, ok = run_compare_and_write_round(a, b, CAW_LBA + index, block_size, index)
        step(
            f"COMPARE AND WRITE race {index + 1}/{CAW_ROUNDS}",
            ok,
            detail + ("" if ok else " (expected exactly one GOOD and one MISCOMPARE 1D/00)"),
        )

    clear_reservations(a, b, KEY_A, KEY_B)
    a.close()
    b.close()
    finish()


# ---- alua ----------------------------------------------------------------------------------------


def rtpg_cdb(extended, allocation=4096):
    return bytes([0xA3, (0x20 if extended else 0x00) | 0x0A, 0, 0, 0, 0]) + allocation.to_bytes(4, "big") + bytes([0, 0])


def parse_groups(data, extended):
    groups = []
    at = 8 if extended else 4
    end = min(len(data), 4 + int.from_bytes(data[0:4], "big")) if len(data) >= 4 else 0
    while at + 8 <= end:
        count = data[at + 7]
        ports = [int.from_bytes(data[at + 8 + 4 * i + 2 : at + 8 + 4 * i + 4], "big") for i in range(count)]
        groups.append(
            {
                "id": int.from_bytes(data[at + 2 : at + 4], "big"),
                "state": data[at] & 0x0F,
                "preferred": bool(data[at] & 0x80),
                "status": data[at + 5],
                "ports": ports,
            }
        )
        at += 8 + 4 * count
    return groups


def describe_groups(groups):
    return "; ".join(
        f"group {g['id']} {ALUA_STATES.get(g['state'], hex(g['state']))}"
        f"{' preferred' if g['preferred'] else ''} status {g['status']} ports {g['ports']}"
        for g in groups
    ) or "no groups"


def rtpg(initiator, extended):
    uas, outcome = initiator.until_good(lambda: initiator.raw(rtpg_cdb(extended), XFER_READ, 4096))
    if uas:
        note(f"RTPG through {initiator.label} first reported {describe_uas(uas)}")
    return outcome


def compare_rtpg(a, b, label):
    answers = {}
    for extended in (False, True):
        form = "extended" if extended else "length-only"
        out_a, out_b = rtpg(a, extended), rtpg(b, extended)
        if out_a.status != GOOD or out_b.status != GOOD:
            step(f"RTPG ({form}) {label}", False, f"A {out_a}, B {out_b}")
            continue
        same = out_a.data == out_b.data
        detail = f"A: {describe_groups(parse_groups(out_a.data, extended))}"
        if not same:
            detail += f" | B: {describe_groups(parse_groups(out_b.data, extended))}"
            detail += f" | bytes A {out_a.data.hex()} B {out_b.data.hex()}"
        step(f"RTPG ({form}) {label}: identical through A and B", same, detail)
        answers[extended] = out_a.data
    return answers


def alua(url_a, url_b):
    a = Initiator("A", url_a, "iqn.2026-11.org.collie.test:initiator-a")
    b = Initiator("B", url_b, "iqn.2026-11.org.collie.test:initiator-b")
    print(f"A: {a.name} -> {url_a}\nB: {b.name} -> {url_b}", flush=True)
    for initiator in (a, b):
        initiator.until_good(initiator.tur)

    before = compare_rtpg(a, b, "before SET TARGET PORT GROUPS")
    groups = parse_groups(before.get(False, b""), False)
    step("RTPG lists a group for each node", len(groups) >= 2, describe_groups(groups))
    if not groups:
        groups = parse_groups(rtpg(a, False).data, False)
    if not groups:
        step("SET TARGET PORT GROUPS through A", False, "no group to set (RTPG through A gave none)")
        finish()
    target = max(groups, key=lambda g: g["id"])
    wanted = 0x1 if target["state"] == 0x0 else 0x0
    parameters = bytes(4) + bytes([wanted, 0]) + target["id"].to_bytes(2, "big")
    cdb = bytes([0xA4, 0x0A, 0, 0, 0, 0]) + len(parameters).to_bytes(4, "big") + bytes([0, 0])
    uas, outcome = a.until_good(lambda: a.raw(cdb, XFER_WRITE, len(parameters), parameters))
    step(
        "SET TARGET PORT GROUPS through A",
        outcome.status == GOOD,
        f"group {target['id']} {ALUA_STATES[target['state']]} -> {ALUA_STATES[wanted]}: {outcome}"
        + (f" (UAs first: {describe_uas(uas)})" if uas else ""),
    )

    after = compare_rtpg(a, b, "after SET TARGET PORT GROUPS")
    if False in after and False in before:
        step(
            "RTPG changed after SET TARGET PORT GROUPS",
            after[False] != before[False],
            describe_groups(parse_groups(after[False], False)),
        )
        now = [g for g in parse_groups(after[False], False) if g["id"] == target["id"]]
        step(
            f"group {target['id']} is {ALUA_STATES[wanted]} through both nodes",
            bool(now) and now[0]["state"] == wanted,
            describe_groups(now),
        )
    a.close()
    b.close()
    finish()


def main(argv):
    if len(argv) != 4 or argv[1] not in ("sequence", "alua"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        (sequence if argv[1] == "sequence" else alua)(argv[2], argv[3])
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(stop.code, flush=True)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
