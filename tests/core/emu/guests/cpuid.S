        .include "common.inc"
        .text
_start: mov %rdi, %r15
        mov $0x40000000, %eax
        xor %ecx, %ecx
        cpuid
        mov %rbx, %r12
        mov %rcx, %r13
        mov %rdx, %r14
        REPORT PASS, 1, 0      # leaf 0x40000000 EAX
        mov %r12, %rax
        REPORT PASS, 2, 0      # EBX
        mov %r13, %rax
        REPORT PASS, 3, 0      # ECX
        mov %r14, %rax
        REPORT PASS, 4, 0      # EDX
        mov $1, %eax
        xor %ecx, %ecx
        cpuid
        mov %rcx, %rax
        REPORT PASS, 5, 0      # leaf 1 ECX
        EXIT 0
        TABLES
