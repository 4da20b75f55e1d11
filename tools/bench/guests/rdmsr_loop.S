# N x rdmsr HV_X64_MSR_VP_INDEX (0x40000002), hv-vpindex. VP index 0 reads 0,
# as an untrapped rdmsr would too: the benchmark checks stats.msr_exits == N.
        .include "common.inc"
        BENCH_HEADER
_start: LOAD_N 2f
        mov $0x40000002, %ecx
1:      mov $0xDEAD, %eax
        rdmsr
        test %eax, %eax
        jnz 3f
        dec %r12
        jnz 1b
2:      EXIT 0
3:      EXIT BENCH_FAIL
