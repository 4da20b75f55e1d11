# Each vCPU reads HV_X64_MSR_VP_INDEX; vCPU 1 reports and ends the run,
# vCPU 0 sleeps with IF=0 (for good).
        .include "common.inc"
        .text
_start: mov %rdi, %r15
        mov $0xDEAD, %eax       # a skipped rdmsr must replace this
        mov $0x40000002, %ecx
        rdmsr
        cmp $1, %r15
        jne 1f
        REPORT PASS, 1, 1
        EXIT 0
1:      cli
        hlt
        jmp 1b
        TABLES
