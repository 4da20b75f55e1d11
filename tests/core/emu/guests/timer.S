# APIC timer, one-shot, 1 ms at divide-by-1: sti; hlt until it fires.
        .include "common.inc"
        .text
_start: SETUP_GDT
        SET_GATE 0x60, timer_handler
        LOAD_IDT
        APIC_ENABLE
        xor %edx, %edx
        mov $0x83E, %ecx        # divide by 1
        mov $0xB, %eax
        wrmsr
        mov $0x832, %ecx        # LVT timer: one-shot, vector 0x60
        mov $0x60, %eax
        wrmsr
        mov $0x838, %ecx        # initial count: 1,000,000 ns at 1 GHz
        mov $1000000, %eax
        wrmsr
1:      sti
        hlt
        jmp 1b
timer_handler:
        mov $0x60, %eax
        REPORT PASS, 1, 0x60
        EXIT 0
        TABLES
