# Report GPAs outside RAM and misaligned: ignored and counted.
        .include "common.inc"
        .text
_start: mov %rdi, %r15
        mov $0xFFFFFFF8, %eax
        out %eax, $PORT_REPORT
        mov $(records + 4), %eax
        out %eax, $PORT_REPORT
        mov $'o', %al
        out %al, $PORT_CONSOLE
        mov $'k', %al
        out %al, $PORT_CONSOLE
        EXIT 7
        TABLES
