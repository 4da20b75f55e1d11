# vCPU 0 sends vector 0x50 to vCPU 1 through the x2APIC ICR once vCPU 1
# has software-enabled its APIC; vCPU 1 waits in sti; hlt, reports from its
# handler and ends the run.
        .include "common.inc"
        .text
_start: SETUP_GDT
        SET_GATE 0x50, ipi_handler
        LOAD_IDT
        cmp $0, %r15
        jne 2f
3:      pause
        cmpl $0, ready(%rip)
        je 3b
        mov $0x830, %ecx        # ICR: fixed, physical, destination 1
        mov $0x50, %eax
        mov $1, %edx
        wrmsr
1:      cli
        hlt
        jmp 1b
2:      APIC_ENABLE
        movl $1, ready(%rip)
4:      sti
        hlt
        jmp 4b
ipi_handler:
        mov %r15, %rax
        REPORT PASS, 1, 1
        mov $0x80B, %ecx
        xor %eax, %eax
        xor %edx, %edx
        wrmsr
        EXIT 0
ready:  .long 0
        TABLES
