# N x 32-bit out to port 0x80: no plugin claims it, so the bus ignores it.
        .include "common.inc"
        BENCH_HEADER
_start: LOAD_N 2f
1:      mov %r12d, %eax
        out %eax, $0x80
        dec %r12
        jnz 1b
2:      EXIT 0
