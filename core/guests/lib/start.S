/*
 * Entry, descriptor tables and interrupt stubs of every enlight guest.
 *
 * Every vCPU enters at the image's first byte (ENLIGHT_GUEST_LOAD_ADDRESS)
 * in 64-bit mode, CPL0, interrupts off, RDI = vCPU index, RSI = vCPU count,
 * RDX = run-length hint in ms (core/include/enlight/core/guest/protocol.h). vCPU 0 zeroes .bss, builds
 * the IDT and releases the others; each vCPU loads the shared GDT and IDT,
 * enables SSE (for XMM fast hypercalls) and runs main (vCPU 0) or
 * guest_ap_main (the others).
 */
/* protocol.h is C (its constants carry a u suffix); runtime.c checks these
 * against ENLIGHT_GUEST_STACK_TOP / ENLIGHT_GUEST_STACK_SIZE. */
#define GUEST_STACK_TOP 0x80000
#define GUEST_STACK_SIZE 0x4000

#define GUEST_CODE_SELECTOR 0x08
#define GUEST_DATA_SELECTOR 0x10

	.section .text.entry, "ax"
	.code64
	.globl _start
	.type _start, @function
/*
 * The image header: 32 bytes at the load address, skipped by a short jump,
 * so the host (and the unit test) can check an image before running it.
 *   0x00 jmp 0x20 (EB 1E)      0x08 magic "ENLGUEST"
 *   0x10 u64 end of the loaded image (absolute GPA)
 *   0x18 u64 end of .bss (absolute GPA): the RAM the guest needs
 */
_start:
	jmp	.Lentry
	.balign	8, 0
	.ascii	"ENLGUEST"
	.quad	__image_end
	.quad	__bss_end
.Lentry:
	cli
	cld
	/* Recompute our stack from the index, whatever the backend set. */
	imul	$GUEST_STACK_SIZE, %rdi, %rax
	mov	$GUEST_STACK_TOP, %esp
	sub	%rax, %rsp
	mov	%rdi, %r12			/* callee-saved: index */
	mov	%rsi, %r13			/* callee-saved: count */
	mov	%rdx, %r14			/* callee-saved: run-length hint (ms) */

	test	%rdi, %rdi
	jnz	.Lap_wait

	/* vCPU 0: zero .bss. */
	lea	__bss_start(%rip), %rdi
	lea	__bss_end(%rip), %rcx
	sub	%rdi, %rcx
	xor	%eax, %eax
	rep stosb

	call	.Lcpu_setup_segments
	mov	%r12, %rdi
	mov	%r13, %rsi
	mov	%r14, %rdx
	call	guest_runtime_init		/* builds the IDT, records count and hint */
	lidt	guest_idtr(%rip)
	call	.Lcpu_setup_fpu
	movl	$1, guest_boot_released(%rip)
	call	main
	mov	%eax, %edi
	call	guest_main_returned		/* does not return */
1:	cli
	hlt
	jmp	1b

.Lap_wait:
	pause
	cmpl	$0, guest_boot_released(%rip)
	je	.Lap_wait
	call	.Lcpu_setup_segments
	lidt	guest_idtr(%rip)
	call	.Lcpu_setup_fpu
	mov	%r12, %rdi
	call	guest_ap_entry			/* does not return */
1:	cli
	hlt
	jmp	1b

/* Load our GDT, reload CS with a far return and the data segments. */
.Lcpu_setup_segments:
	lgdt	guest_gdtr(%rip)
	pop	%r11				/* our return address */
	lea	1f(%rip), %rax
	pushq	$GUEST_CODE_SELECTOR
	pushq	%rax
	lretq
1:	mov	$GUEST_DATA_SELECTOR, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%eax, %fs
	mov	%eax, %gs
	jmp	*%r11

/* CR0.EM = 0, CR0.MP = 1, CR4.OSFXSR | OSXMMEXCPT: SSE usable at CPL0. */
.Lcpu_setup_fpu:
	mov	%cr0, %rax
	and	$~(1 << 2), %rax
	or	$(1 << 1), %rax
	mov	%rax, %cr0
	mov	%cr4, %rax
	or	$((1 << 9) | (1 << 10)), %rax
	mov	%rax, %cr4
	ret
	.size _start, . - _start

/*
 * Instructions that may fault on purpose, each with a known fault RIP and a
 * resume RIP: the C side arms the per-vCPU fault slot with both
 * (guest/runtime.c), so a #GP or #UD here returns to the resume label with
 * the fault recorded. RAX/RDX keep the values loaded before the instruction.
 */
	.text
	/* uint64_t guest_rdmsr_raw(uint32_t msr) */
	.globl guest_rdmsr_raw, guest_rdmsr_fault_rip, guest_rdmsr_resume_rip
	.type guest_rdmsr_raw, @function
guest_rdmsr_raw:
	mov	%edi, %ecx
	xor	%eax, %eax
	xor	%edx, %edx
guest_rdmsr_fault_rip:
	rdmsr
guest_rdmsr_resume_rip:
	shl	$32, %rdx
	or	%rdx, %rax
	ret
	.size guest_rdmsr_raw, . - guest_rdmsr_raw

	/* void guest_wrmsr_raw(uint32_t msr, uint64_t value) */
	.globl guest_wrmsr_raw, guest_wrmsr_fault_rip, guest_wrmsr_resume_rip
	.type guest_wrmsr_raw, @function
guest_wrmsr_raw:
	mov	%edi, %ecx
	mov	%rsi, %rax
	mov	%rsi, %rdx
	shr	$32, %rdx
guest_wrmsr_fault_rip:
	wrmsr
guest_wrmsr_resume_rip:
	ret
	.size guest_wrmsr_raw, . - guest_wrmsr_raw

	/*
	 * uint64_t guest_vmcall_raw(uint64_t control, uint64_t in, uint64_t out)
	 * uint64_t guest_vmmcall_raw(...)
	 * A hypercall executed directly, not through the hypercall page (the
	 * KVM selftests do this): how a test sees the #UD before the page is
	 * enabled. Returns ~0 if the instruction faulted.
	 */
	.globl guest_vmcall_raw, guest_vmcall_fault_rip, guest_vmcall_resume_rip
	.type guest_vmcall_raw, @function
guest_vmcall_raw:
	mov	%rdi, %rcx
	mov	%rdx, %r8
	mov	%rsi, %rdx
	mov	$-1, %rax
guest_vmcall_fault_rip:
	vmcall
guest_vmcall_resume_rip:
	ret
	.size guest_vmcall_raw, . - guest_vmcall_raw

	.globl guest_vmmcall_raw, guest_vmmcall_fault_rip, guest_vmmcall_resume_rip
	.type guest_vmmcall_raw, @function
guest_vmmcall_raw:
	mov	%rdi, %rcx
	mov	%rdx, %r8
	mov	%rsi, %rdx
	mov	$-1, %rax
guest_vmmcall_fault_rip:
	vmmcall
guest_vmmcall_resume_rip:
	ret
	.size guest_vmmcall_raw, . - guest_vmmcall_raw

/*
 * 256 interrupt stubs, 16 bytes apart (guest_isr_stubs + 16 * vector), so
 * the IDT is built by arithmetic. Vectors that push an error code
 * (8, 10-14, 17, 21, 29, 30) do not push the dummy 0.
 */
	.balign	16
	.globl guest_isr_stubs
guest_isr_stubs:
	.set	vec, 0
	.rept	256
	.balign	16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$vec
	jmp	guest_isr_common
	.set	vec, vec + 1
	.endr

/*
 * Saves the general registers as a struct guest_frame (runtime.h), calls
 * guest_isr_dispatch(frame) on an aligned stack and returns with iretq; the
 * dispatcher may change frame->rip (fault recovery).
 */
guest_isr_common:
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, %rdi
	mov	%rsp, %rbx
	and	$-16, %rsp
	cld
	call	guest_isr_dispatch
	mov	%rbx, %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	add	$16, %rsp			/* vector and error code */
	iretq

/* GDT: null, 64-bit code (0x08), data (0x10); accessed bits preset so the
 * CPU never writes the table. */
	.data
	.balign	16
guest_gdt:
	.quad	0
	.quad	0x00AF9B000000FFFF
	.quad	0x00CF93000000FFFF
guest_gdt_end:
	.balign	16
	.globl guest_gdtr
guest_gdtr:
	.word	guest_gdt_end - guest_gdt - 1
	.quad	guest_gdt
	.balign	16
	.globl guest_idtr
guest_idtr:
	.word	256 * 16 - 1
	.quad	guest_idt
	/* In .data, not .bss: the other vCPUs read it before vCPU 0 zeroes .bss. */
	.balign	4
	.globl guest_boot_released
guest_boot_released:
	.long	0

	.bss
	.balign	4096
	.globl guest_idt
guest_idt:
	.zero	256 * 16

	.section .note.GNU-stack, "", @progbits
