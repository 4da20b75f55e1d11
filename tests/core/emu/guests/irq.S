# sti; hlt until the host injects vector 0x40. The handler reports the ISR
# bit before and after EOI; the main path reports the handler count.
        .include "common.inc"
        .text
_start: SETUP_GDT
        SET_GATE 0x40, irq_handler
        LOAD_IDT
        APIC_ENABLE
        movl $0, count(%rip)
1:      sti
        hlt
        cli
        cmpl $0, count(%rip)
        je 1b
        mov count(%rip), %eax
        REPORT PASS, 3, 1
        EXIT 0
irq_handler:
        push %rax
        push %rbx
        push %rcx
        push %rdx
        mov $0x812, %ecx        # ISR bits 64-95
        rdmsr
        and $1, %eax
        REPORT PASS, 1, 1
        mov $0x80B, %ecx        # EOI
        xor %eax, %eax
        xor %edx, %edx
        wrmsr
        mov $0x812, %ecx
        rdmsr
        and $1, %eax
        REPORT PASS, 2, 0
        incl count(%rip)
        pop %rdx
        pop %rcx
        pop %rbx
        pop %rax
        iretq
        .balign 8
count:  .quad 0
        TABLES
