# N x wrmsr HV_X64_MSR_CRASH_P0 (0x40000100) = the loop counter, hv-crash.
        .include "common.inc"
        BENCH_HEADER
_start: LOAD_N 2f
        mov $0x40000100, %ecx
        xor %edx, %edx
1:      mov %r12d, %eax
        wrmsr
        dec %r12
        jnz 1b
2:      EXIT 0
