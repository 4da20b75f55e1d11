/*
 * Local APIC in x2APIC mode: every register is an MSR (0x800 + offset/16).
 * apic_init() turns x2APIC on (IA32_APIC_BASE EN | EXTD) and software-enables
 * the APIC through the spurious-vector register.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IA32_APIC_BASE           0x0000001Bu
#define IA32_APIC_BASE_BSP       (1ull << 8)
#define IA32_APIC_BASE_EXTD      (1ull << 10)
#define IA32_APIC_BASE_EN        (1ull << 11)

#define X2APIC_MSR_ID            0x00000802u
#define X2APIC_MSR_VERSION       0x00000803u
#define X2APIC_MSR_TPR           0x00000808u
#define X2APIC_MSR_EOI           0x0000080Bu
#define X2APIC_MSR_LDR           0x0000080Du
#define X2APIC_MSR_SVR           0x0000080Fu
#define X2APIC_MSR_ISR0          0x00000810u
#define X2APIC_MSR_IRR0          0x00000820u
#define X2APIC_MSR_ESR           0x00000828u
#define X2APIC_MSR_ICR           0x00000830u
#define X2APIC_MSR_LVT_TIMER     0x00000832u
#define X2APIC_MSR_TIMER_INITIAL 0x00000838u
#define X2APIC_MSR_TIMER_CURRENT 0x00000839u
#define X2APIC_MSR_TIMER_DIVIDE  0x0000083Eu
#define X2APIC_MSR_SELF_IPI      0x0000083Fu

#define APIC_SVR_ENABLE          (1u << 8)
#define APIC_SPURIOUS_VECTOR     0xFFu
#define APIC_LVT_MASKED          (1u << 16)

/* ICR fields (x2APIC: destination in 63:32). */
#define APIC_ICR_DELIVERY_FIXED  (0u << 8)
#define APIC_ICR_DELIVERY_NMI    (4u << 8)
#define APIC_ICR_DELIVERY_INIT   (5u << 8)
#define APIC_ICR_LEVEL_ASSERT    (1u << 14)
#define APIC_ICR_DEST_SELF       (1u << 18)
#define APIC_ICR_DEST_ALL        (2u << 18)
#define APIC_ICR_DEST_ALL_BUT_SELF (3u << 18)

/* CPUID.1:ECX[21] */
bool apic_x2apic_supported(void);
/* Enables x2APIC mode and the APIC (SVR vector 0xFF), TPR 0. False if the
 * CPU has no x2APIC. Per vCPU. */
bool apic_init(void);
uint32_t apic_id(void);
void apic_eoi(void);
void apic_set_tpr(uint32_t tpr);
uint32_t apic_get_tpr(void);
/* Fixed IPI to one x2APIC ID. */
void apic_send_ipi(uint32_t dest_apic_id, uint8_t vector);
/* Fixed IPI with a destination shorthand (APIC_ICR_DEST_*). */
void apic_send_ipi_shorthand(uint32_t shorthand, uint8_t vector);
void apic_self_ipi(uint8_t vector);

#ifdef __cplusplus
}
#endif
