#!/usr/bin/env python3
"""Writes the seed corpora of the VM fuzz targets (hypercall, plugin_msrs,
synic_messages) into tests/fuzz/corpus/NAME, in the byte formats their
harnesses read (see the top of each *_fuzz.cpp). Each seed is a short,
meaningful guest session; the name says what it does. Run from anywhere:

    tests/fuzz/make_vm_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u16(v):
    return struct.pack('<H', v)


def u32(v):
    return struct.pack('<I', v)


def u64(v):
    return struct.pack('<Q', v)


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(bytes(data))


# ---- hypercall ---------------------------------------------------------------
# config: bit 0 enforce-cpuid, bit 1 xmm-input, bit 2 two vCPUs, bit 3 metrics off
# op 0: vcpu, mode, code selector, rep count, rep start, var header, in sel,
#       out sel, in GPA (u16 * 8, or u64 if sel & 0x80), out GPA, [u64 reserved
#       bits if mode & 0x10], [96 XMM bytes if mode & 0x20]
# mode: 1 fast, 2 32-bit, 4 CPL3, 8 real mode, 0x10 reserved bits, 0x20 XMM, 0x40 junk upper halves
# selectors: 0 simple, 1 rep, 2 partial rep, 3 XMM rep, 4 empty, 5 gated, 6 ext 0x8001, 7.. unclaimed
SIMPLE, REP, PARTIAL, XMMREP, EMPTY, GATED, EXT, UNCLAIMED = range(8)


def hc(vcpu=0, mode=0, sel=SIMPLE, rc=0, rs=0, vh=0, in_gpa=0x1000, out_gpa=0x2000, reserved=None, xmm=None):
    b = [0, vcpu, mode, sel, rc, rs, vh, 0, 0]
    b += list(u16(in_gpa // 8)) + list(u16(out_gpa // 8))
    if mode & 0x10:
        b += list(u64(reserved))
    if mode & 0x20:
        b += list(xmm or range(96))
    return b


def mem(gpa, data):
    return [1] + list(u16(gpa)) + [len(data)] + list(data)


def behave(chunk=0, fail_rep=None, fail_status=0, simple_status=4, bad=False):
    b = chunk | (0x40 if bad else 0) | (simple_status << 3 & 0x38) | (0x80 if fail_rep is not None else 0)
    out = [2, b]
    if fail_rep is not None:
        out.append(fail_rep)
    out.append(fail_status)
    return out


write('hypercall', 'simple-memory-call', [0] + mem(0x1000, range(16)) + hc())
write('hypercall', 'rep-call-5-reps', [0] + mem(0x3000, range(48)) + hc(sel=REP, rc=5, in_gpa=0x3000, out_gpa=0x4008))
write('hypercall', 'partial-rep-continued-and-failing',
      [0] + behave(chunk=2, fail_rep=7, fail_status=1) + hc(sel=PARTIAL, rc=10, vh=1, in_gpa=0x5000, out_gpa=0x6000)
      + behave(chunk=1) + hc(sel=PARTIAL, rc=4, rs=1, in_gpa=0x5000, out_gpa=0x6000))
write('hypercall', 'xmm-fast-enforce-without-xmm-input', [1] + hc(mode=0x21, sel=XMMREP, rc=3, vh=1))
write('hypercall', 'xmm-fast-with-xmm-input', [3] + behave(chunk=1) + hc(mode=0x21, sel=XMMREP, rc=5, vh=2))
write('hypercall', 'calls-32-bit-junk-upper-halves',
      [4] + hc(vcpu=1, mode=0x42, sel=REP, rc=3, in_gpa=0x3000, out_gpa=0x4000) + hc(mode=0x43, sel=EMPTY))
write('hypercall', 'bad-gpas-cross-overlap-outside',
      [0] + hc(in_gpa=0xFF8) + hc(in_gpa=0x2000, out_gpa=0x2008) + hc(in_gpa=0x20000) + hc(out_gpa=0xFFF8)
      + hc(sel=REP, rc=19, in_gpa=0x3000, out_gpa=0x3ff0))
write('hypercall', 'reserved-bits-cpl3-real-mode-disabled',
      [0] + hc(mode=0x10, reserved=0xFFFFFFFFFFFFFFFF) + hc(mode=4) + hc(mode=8) + [3] + hc() + [3] + hc(sel=EXT))
write('hypercall', 'gated-code-under-enforce', [1] + hc(sel=GATED) + hc(sel=UNCLAIMED) + hc(sel=EXT, out_gpa=0x2000))
write('hypercall', 'impossible-reps-fault', [0] + behave(bad=True) + hc(sel=PARTIAL, rc=3, in_gpa=0x5000, out_gpa=0x6000))
write('hypercall', 'wrong-shape-fast-varhead-reps',
      [0] + hc(mode=1, sel=REP, rc=1) + hc(sel=REP, rc=0) + hc(sel=REP, rc=2, rs=2) + hc(sel=SIMPLE, rc=1)
      + hc(sel=EMPTY, vh=1) + hc(mode=1, sel=SIMPLE, vh=1))

# ---- plugin_msrs -------------------------------------------------------------
# byte 0: set (0 synic, 1 stimer, 2 stimer direct, 3 time, 4 vapic, 5 crash,
# 6 reset, 7 vpindex, 8 frequencies, 9 reenlightenment, 10 syndbg, 11 runtime,
# 12 tsc-invariant, 13 identity, 14 all); byte 1: vCPUs - 1 (bits 0-1), 0x10 enforce-cpuid
# op: kind (0 read, 1 write, 2 host read, 3 host write, 4 read twice, 5 clock,
# 6 write back, 7 write back one bit flipped; bits 3-4 value form for 1/3:
# 0 u64, 1 u8, 2 page u8 + low u8, 3 u8 | u8 << 16), vcpu, pick (0xFF: u32 index)
RD, WR, HRD, HWR, RD2, CLK, WB, WBFLIP = range(8)


def msr(kind, vcpu, index, value=None, form=0):
    b = [kind | (form << 3), vcpu, 0xFF] + list(u32(index))
    if kind in (WR, HWR):
        if form == 0:
            b += list(u64(value))
        elif form == 1:
            b += [value]
        elif form == 2:
            b += [value >> 12, value & 0xFF]
        else:
            b += [value & 0xFF, value >> 16 & 0xFF]
    if kind == WBFLIP:
        b.append(value or 0)
    return b


def clock(n, big=False):
    return [CLK | (0x80 if big else 0), 0, 0, n]


def seq(*ops):
    out = []
    for o in ops:
        out += o
    return out


SCONTROL, SIEFP, SIMP, EOM, SINT0 = 0x40000080, 0x40000082, 0x40000083, 0x40000084, 0x40000090
write('plugin_msrs', 'synic-bring-up', [0, 1] + seq(
    msr(RD, 0, SCONTROL), msr(WR, 0, SIMP, 0x3001), msr(WR, 0, SIEFP, 0x4001), msr(WR, 0, SINT0 + 2, 0x50, 3),
    msr(RD2, 0, SIMP), msr(RD, 0, SINT0 + 2), msr(WR, 0, EOM, 0, 1), msr(WR, 1, SIMP, 0x5001),
    msr(HRD, 1, SIMP), msr(WB, 0, SINT0 + 2), msr(WBFLIP, 0, SINT0 + 2, 16), msr(WR, 0, SINT0 + 3, 0x05, 1)))
STIMER0_CONFIG, STIMER0_COUNT = 0x400000B0, 0x400000B1
write('plugin_msrs', 'stimer-one-shot-and-periodic', [1, 0] + seq(
    msr(WR, 0, SCONTROL, 1, 1), msr(WR, 0, SIMP, 0x3001), msr(WR, 0, SINT0 + 2, 0x51, 3),
    msr(WR, 0, STIMER0_COUNT, 5000, 0), msr(WR, 0, STIMER0_CONFIG, 0x20001, 0), clock(40), msr(RD, 0, STIMER0_CONFIG),
    msr(WR, 0, STIMER0_CONFIG + 2, 0x2000B, 0), msr(WR, 0, STIMER0_COUNT + 2, 1000, 0), clock(100), clock(100),
    msr(RD2, 0, STIMER0_COUNT + 2)))
write('plugin_msrs', 'stimer-direct-mode', [2, 1] + seq(
    msr(WR, 1, STIMER0_CONFIG, 0x1000 | 0x60 << 4 | 1, 0), msr(WR, 1, STIMER0_COUNT, 100, 0), clock(10),
    msr(RD, 1, STIMER0_CONFIG)))
GUEST_OS_ID, HYPERCALL, TIME_REF, REF_TSC = 0x40000000, 0x40000001, 0x40000020, 0x40000021
write('plugin_msrs', 'time-reference-tsc-page', [3, 1] + seq(
    msr(RD, 0, TIME_REF), msr(WR, 0, REF_TSC, 0x5001), clock(10), msr(RD2, 1, TIME_REF), msr(RD, 1, REF_TSC),
    msr(WR, 0, REF_TSC, 0x50001), msr(HWR, 0, REF_TSC, 0x6001), msr(WR, 0, TIME_REF, 1, 1), clock(3, True)))
EOI, ICR, TPR, VP_ASSIST = 0x40000070, 0x40000071, 0x40000072, 0x40000073
write('plugin_msrs', 'vapic-assist-page-icr-tpr-eoi', [4, 1] + seq(
    msr(WR, 0, VP_ASSIST, 0x2001), msr(RD, 0, VP_ASSIST), msr(WR, 0, TPR, 0x20, 1), msr(RD, 0, TPR),
    msr(WR, 0, ICR, 0x100000000 | 0x4030, 0), msr(WR, 0, EOI, 0, 1), msr(WR, 1, VP_ASSIST, 0x20001),
    msr(WR, 0, VP_ASSIST, 0, 1), msr(RD, 0, ICR)))
CRASH_P0, CRASH_CTL = 0x40000100, 0x40000105
write('plugin_msrs', 'crash-params-then-notify', [5, 1] + seq(
    msr(RD, 0, CRASH_CTL), *[msr(WR, 0, CRASH_P0 + i, 0x1111 * (i + 1), 0) for i in range(3)],
    msr(WR, 0, CRASH_P0 + 3, 0x3000, 0), msr(WR, 0, CRASH_P0 + 4, 64, 1), msr(RD, 1, CRASH_P0 + 2),
    msr(WR, 1, CRASH_CTL, 0xC000000000000000, 0)))
write('plugin_msrs', 'reset', [6, 0] + seq(msr(RD, 0, 0x40000003), msr(WR, 0, 0x40000003, 0, 1),
                                           msr(WR, 0, 0x40000003, 1, 1)))
write('plugin_msrs', 'vpindex-read-only', [7, 2] + seq(msr(RD, 2, 0x40000002), msr(WR, 2, 0x40000002, 7, 1),
                                                       msr(HWR, 1, 0x40000002, 9, 1), msr(RD, 1, 0x40000002)))
write('plugin_msrs', 'frequencies', [8, 0] + seq(msr(RD, 0, 0x40000022), msr(RD, 0, 0x40000023),
                                                 msr(WR, 0, 0x40000022, 1, 1)))
write('plugin_msrs', 'reenlightenment', [9, 1] + seq(
    msr(WR, 0, 0x40000106, 0x10000 | 0x40, 0), msr(RD, 1, 0x40000106), msr(WR, 0, 0x40000107, 1, 1),
    msr(WR, 0, 0x40000108, 1, 1), msr(WR, 0, 0x40000108, 0, 1), msr(HWR, 0, 0x40000108, 1, 1), msr(RD, 0, 0x40000108)))
write('plugin_msrs', 'syndbg-registers', [10, 0] + seq(
    msr(RD, 0, 0x400000FF), msr(WR, 0, 0x400000FF, 4, 1), msr(WR, 0, 0x400000F3, 0x3000, 2),
    msr(WR, 0, 0x400000F4, 0x4000, 2), msr(WR, 0, 0x400000F5, 0x5000, 2), msr(WR, 0, 0x400000F1, 0x10001, 0),
    msr(RD, 0, 0x400000F2), msr(WR, 0, 0x400000F1, 2, 1), msr(RD2, 0, 0x400000F2)))
write('plugin_msrs', 'runtime', [11, 0] + seq(msr(RD, 0, 0x40000010), clock(5),
                                                                     msr(RD, 0, 0x40000010)))
write('plugin_msrs', 'tsc-invariant', [12, 1] + seq(msr(WR, 0, 0x40000118, 1, 1), msr(RD, 1, 0x40000118),
                                                    msr(WR, 0, 0x40000118, 0, 1), msr(WR, 0, 0x40000118, 2, 1)))
write('plugin_msrs', 'identity-hypercall-page', [13, 0] + seq(
    msr(WR, 0, HYPERCALL, 0x1001), msr(WR, 0, GUEST_OS_ID, 0x8100000000000000, 0), msr(WR, 0, HYPERCALL, 0x1001, 2),
    msr(RD, 0, HYPERCALL), msr(WR, 0, HYPERCALL, 0x40001, 0), msr(WR, 0, GUEST_OS_ID, 0, 1), msr(RD, 0, HYPERCALL),
    msr(WR, 0, VP_ASSIST, 0x2001), msr(RD, 0, 0x40000004), msr(WR, 0, 0x40000200, 1, 1)))
write('plugin_msrs', 'everything-enforce', [14, 0x11] + seq(
    msr(WR, 0, SCONTROL, 1, 1), msr(WR, 0, SIMP, 0x3001), msr(WR, 1, STIMER0_COUNT, 50, 0),
    msr(WR, 1, STIMER0_CONFIG, 0x20001, 0), clock(20), msr(WR, 0, REF_TSC, 0x5001), msr(WR, 0, CRASH_P0, 1, 1),
    msr(WR, 0, 0x40000106, 0x40, 1), msr(WR, 0, VP_ASSIST, 0x2001), msr(RD, 1, 0x40000002)))

# ---- synic_messages ----------------------------------------------------------
# config: bit 0 two vCPUs, bit 1 echo on SINT 2 (VMBus's) instead of 3
# op kinds: 0 SynIC MSR (which: %6 0 SCONTROL u8, 1 SIMP page, 2 SIEFP page, 3 EOM u8,
#   4 SVERSION u8, 5 SINT(which >> 4): flags byte (1 masked, 2 auto-EOI, 0x80 raw u64), vector),
#   1 stimer MSR, 2 clock, 3 host post, 4 host signal, 5 guest takes a message, 6 post message,
#   7 signal event, 8 EOI
# page byte: page = b % 20, enable = b & 0x20, RsvdP junk = b & 0x80


def page_byte(page, enable=True):
    for b in range(128):
        if b % 20 == page and bool(b & 0x20) == enable:
            return b
    raise ValueError(page)


def sint_which(n):
    for w in range(n << 4, (n << 4) + 16):
        if w % 6 == 5:
            return w
    raise ValueError(n)


def s_msr(vcpu, which, *rest):
    return [0, vcpu, which] + list(rest)


def enable(vcpu, simp, sief, sints):
    out = s_msr(vcpu, 0, 1) + s_msr(vcpu, 1, page_byte(simp)) + s_msr(vcpu, 2, page_byte(sief))
    for n, vec in sints:
        out += s_msr(vcpu, sint_which(n), 0, vec)
    return out


def post_vmbus(vcpu, which):  # which: 0 INITIATE_CONTACT (5.0), 1 REQUEST_OFFERS, 2 UNLOAD
    b = 1 | (which << 2) | 0x40
    return [6, vcpu, b, 0, 0]


def post_echo(vcpu, size):
    return [6, vcpu, 0, size]


def take(vcpu, sint, eom='pending'):
    b = sint | {'pending': 0, 'never': 0x20, 'always': 0x40}[eom]
    return [5, vcpu, b]


def host_post(vcpu, sint, payload, flags=0):
    return [3, vcpu, sint & 0xF, payload, 0, flags]


def stimer(vcpu, timer, config_bits, sint, count):
    return [1, vcpu, timer * 2, config_bits, sint] + [1, vcpu, timer * 2 + 1] + list(u16(count))


write('synic_messages', 'linux-vmbus-bring-up', [0] + enable(0, 2, 3, [(2, 0x50), (3, 0x51)])
      + post_vmbus(0, 0) + take(0, 2) + post_vmbus(0, 1) + take(0, 2) + [8, 0] + post_vmbus(0, 2) + take(0, 2))
write('synic_messages', 'echo-busy-held-redelivered', [0] + enable(0, 2, 3, [(3, 0x52)])
      + post_echo(0, 16) + post_echo(0, 32) + post_echo(0, 8) + take(0, 3, 'never') + s_msr(0, 3, 0)
      + take(0, 3) + [7, 0] + list(u16(5)))
write('synic_messages', 'stimer-expiry-slot-busy', [0] + enable(0, 4, 5, [(2, 0x53)])
      + stimer(0, 0, 0xB, 2, 50) + [2, 0, 20] + [2, 0, 20] + take(0, 2, 'always') + [2, 0, 20] + [8, 0])
write('synic_messages', 'host-posts-busy-invalid', [0] + enable(0, 6, 7, [(5, 0x54)])
      + host_post(0, 5, 24) + host_post(0, 5, 240) + take(0, 5) + host_post(0, 5, 0)
      + [3, 0, 0x80, 3, 10, 0, 0] + [3, 0, 0x40, 16, 10, 0, 0] + [3, 0, 0x30, 10, 0, 0] + [4, 0, 5, 9]
      + [4, 0, 0x25] + list(u16(5000)))
write('synic_messages', 'overlapping-pages-two-vcpus', [1] + enable(0, 2, 2, [(1, 0x55)]) + enable(1, 2, 3, [(1, 0x56)])
      + host_post(0, 1, 12) + host_post(1, 1, 12) + [4, 1, 1, 3] + [4, 0, 1, 200] + take(1, 1) + host_post(1, 1, 4))
write('synic_messages', 'pages-outside-ram-and-disabled', [2] + enable(0, 17, 19, [(2, 0x57)])
      + post_vmbus(0, 0) + host_post(0, 2, 10) + s_msr(0, 1, page_byte(2)) + s_msr(0, 0, 0) + host_post(0, 2, 10)
      + s_msr(0, 0, 1) + host_post(0, 2, 10) + s_msr(0, 1, 0x80 | page_byte(2)))
print('seeds written under', os.path.join(HERE, 'corpus'))
