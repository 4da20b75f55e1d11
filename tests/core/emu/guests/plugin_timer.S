# A plugin timer (the services-probe fixture, tests/fixtures/services) armed
# from the guest: 1 ms of reference time. Its expiry injects vector 0x61 on
# this vCPU. With RDX (the run hint) == 0 the guest waits in HLT; otherwise
# it spins with interrupts on, so the timer must stop a running engine.
# Reports: line 1 = timer lateness in 100 ns ticks, line 2 = expiries seen.
        .include "common.inc"
        .set PROBE_ARM, 0x40000190
        .set PROBE_LATE, 0x40000191
        .text
_start: SETUP_GDT
        mov %rdx, %r14
        SET_GATE 0x61, timer_handler
        LOAD_IDT
        APIC_ENABLE
        mov $PROBE_ARM, %ecx
        mov $10000, %eax
        xor %edx, %edx
        wrmsr
        test %r14, %r14
        jnz 2f
1:      sti
        hlt
        jmp 1b
2:      sti
3:      jmp 3b
timer_handler:
        mov $PROBE_LATE, %ecx
        rdmsr
        shl $32, %rdx
        or %rdx, %rax
        REPORT PASS, 1, 0
        mov $PROBE_ARM, %ecx
        rdmsr
        REPORT PASS, 2, 1
        mov $0x80B, %ecx        # x2APIC EOI
        xor %eax, %eax
        xor %edx, %edx
        wrmsr
        EXIT 0
        TABLES
