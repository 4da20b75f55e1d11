        .include "common.inc"
        .text
_start: mov %rdi, %r15
        mov $0x40000100, %ecx   # CRASH_P0
        mov $0x1234, %eax
        xor %edx, %edx
        wrmsr
        mov $0x40000105, %ecx   # CRASH_CTL
        xor %eax, %eax
        mov $0x80000000, %edx   # CrashNotify (bit 63)
        wrmsr
1:      jmp 1b
        TABLES
