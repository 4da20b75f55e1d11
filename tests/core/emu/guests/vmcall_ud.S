# vmcall with the hypercall page not enabled: #UD on the vmcall.
        .include "common.inc"
        .text
_start: SETUP_GDT
        SET_GATE 6, ud_handler
        LOAD_IDT
        mov $0x10008, %rcx
        xor %edx, %edx
fault:  vmcall
        EXIT 1
ud_handler:
        mov (%rsp), %rax
        REPORT PASS, 1, fault
        EXIT 0
        TABLES
