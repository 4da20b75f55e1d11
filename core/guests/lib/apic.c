/* x2APIC local APIC driver (Intel SDM vol. 3, "x2APIC"). */
#include <enlight_guest/guest.h>

bool apic_x2apic_supported(void) { return (cpuid(1, 0).ecx & (1u << 21)) != 0; }

bool apic_init(void) {
  if (!apic_x2apic_supported()) return false;
  uint64_t base;
  if (rdmsr_safe(IA32_APIC_BASE, &base)) return false;
  /* xAPIC first (EN), then x2APIC (EN | EXTD): the architectural order. */
  if (!(base & IA32_APIC_BASE_EN) && wrmsr_safe(IA32_APIC_BASE, base | IA32_APIC_BASE_EN)) return false;
  if (!(base & IA32_APIC_BASE_EXTD) && wrmsr_safe(IA32_APIC_BASE, base | IA32_APIC_BASE_EN | IA32_APIC_BASE_EXTD))
    return false;
  if (wrmsr_safe(X2APIC_MSR_SVR, APIC_SVR_ENABLE | APIC_SPURIOUS_VECTOR)) return false;
  apic_set_tpr(0);
  return true;
}

uint32_t apic_id(void) { return (uint32_t)rdmsr(X2APIC_MSR_ID); }
void apic_eoi(void) { wrmsr(X2APIC_MSR_EOI, 0); }
void apic_set_tpr(uint32_t tpr) { wrmsr(X2APIC_MSR_TPR, tpr & 0xFF); }
uint32_t apic_get_tpr(void) { return (uint32_t)rdmsr(X2APIC_MSR_TPR); }

void apic_send_ipi(uint32_t dest_apic_id, uint8_t vector) {
  wrmsr(X2APIC_MSR_ICR, ((uint64_t)dest_apic_id << 32) | APIC_ICR_LEVEL_ASSERT | APIC_ICR_DELIVERY_FIXED | vector);
}

void apic_send_ipi_shorthand(uint32_t shorthand, uint8_t vector) {
  wrmsr(X2APIC_MSR_ICR, (uint64_t)(shorthand & (3u << 18)) | APIC_ICR_LEVEL_ASSERT | APIC_ICR_DELIVERY_FIXED | vector);
}

void apic_self_ipi(uint8_t vector) { wrmsr(X2APIC_MSR_SELF_IPI, vector); }
