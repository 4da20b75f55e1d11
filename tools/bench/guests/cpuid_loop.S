# N x cpuid of leaf 0x40000001 (interface: EAX = "Hv#1"). Exit 0, or
# BENCH_FAIL if an answer is wrong.
        .include "common.inc"
        BENCH_HEADER
_start: LOAD_N 2f
1:      mov $0x40000001, %eax
        xor %ecx, %ecx
        cpuid
        cmp $0x31237648, %eax
        jne 3f
        dec %r12
        jnz 1b
2:      EXIT 0
3:      EXIT BENCH_FAIL
