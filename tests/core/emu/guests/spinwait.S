# Enable the hypercall page, then a fast HvCallNotifyLongSpinWait through it.
        .include "common.inc"
        .set HC_PAGE, 0x200000
        .text
_start: SETUP_GDT
        mov $0x40000000, %ecx   # GUEST_OS_ID
        mov $0x1, %eax
        mov $0x8100, %edx       # open source, Linux
        wrmsr
        mov $0x40000001, %ecx   # HYPERCALL: page GPA | enable
        mov $(HC_PAGE | 1), %eax
        xor %edx, %edx
        wrmsr
        mov $0x10008, %rcx      # fast | HvCallNotifyLongSpinWait
        mov $100, %rdx
        xor %r8, %r8
        mov $HC_PAGE, %rax
        call *%rax
        REPORT PASS, 1, 0       # HV_STATUS_SUCCESS
        EXIT 0
        TABLES
