# wrmsr to an unclaimed synthetic MSR: #GP(0) with RIP on the wrmsr.
        .include "common.inc"
        .text
_start: SETUP_GDT
        SET_GATE 13, gp_handler
        LOAD_IDT
        mov $0x400000B0, %ecx   # STIMER0_CONFIG: nobody claims it here
        xor %eax, %eax
        xor %edx, %edx
fault:  wrmsr
        EXIT 1                  # no #GP
gp_handler:
        pop %rax                # error code
        REPORT PASS, 1, 0
        mov (%rsp), %rax        # pushed RIP
        REPORT PASS, 2, fault
        EXIT 0
        TABLES
