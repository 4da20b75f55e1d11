// vapic: HV_X64_MSR_EOI, _ICR, _TPR onto the vCPU's local APIC, and
// HV_X64_MSR_VP_ASSIST_PAGE with the APIC-assist word (PV EOI).
//
// Most tests drive the direct backend, whose vCPUs have the shared local
// APIC model: an interrupt is "taken" with take_interrupt() (the CPU
// accepting it, IRR -> ISR) and in_service() shows the ISR. A few build a
// VM on a recording fake backend instead, to see the exact x2APIC values the
// plugin forwards, and to have a backend without an APIC or without PV EOI.
#include "enlight_test.hpp"

#include <enlight/core/loader.hpp>

#include <atomic>
#include <cstring>
#include <iterator>
#include <mutex>
#include <random>
#include <utility>

namespace enlight::test {
namespace {

// Architectural numbers the tests need (Intel SDM Vol. 3A, APIC chapter),
// not TLFS ones: IA32_APIC_BASE with its enable (EN) and x2APIC (EXTD)
// bits, and ICR fields (vector 7:0, delivery mode 10:8 with INIT = 101b,
// destination mode bit 11, delivery status bit 12, shorthand 19:18 with
// 01b = self, destination 63:56 in xAPIC mode and 63:32 in x2APIC mode).
constexpr uint32_t kIa32ApicBase = 0x1B;
constexpr uint64_t kApicBaseEn = uint64_t{1} << 11;
constexpr uint64_t kApicBaseExtd = uint64_t{1} << 10;
constexpr uint64_t kIcrLogical = uint64_t{1} << 11;
constexpr uint64_t kIcrDeliveryStatus = uint64_t{1} << 12;
constexpr uint64_t kIcrSelf = uint64_t{1} << 18;
constexpr uint64_t kIcrInit = uint64_t{5} << 8;
constexpr uint32_t kXapicDestShift = 56, kX2apicDestShift = 32;

uint64_t x2apic_ipi(uint32_t dest, uint8_t vector) { return (uint64_t{dest} << kX2apicDestShift) | vector; }
uint64_t xapic_ipi(uint8_t dest, uint8_t vector) { return (uint64_t{dest} << kXapicDestShift) | vector; }
uint64_t self_ipi(uint8_t vector) { return kIcrSelf | vector; }

constexpr uint64_t kPage = 0x20000;  // a VP assist page in RAM

uint32_t assist_word(DirectVm& d, uint64_t page) {
  uint32_t w = 0;
  std::memcpy(&w, d.memory().base() + page + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET, sizeof w);
  return w;
}
// What the guest's PV EOI does: `btr [assist], 0` (TLFS "EOI Assist").
bool guest_pv_eoi(DirectVm& d, uint64_t page) {
  auto* w = reinterpret_cast<uint32_t*>(d.memory().base() + page + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET);
  return (std::atomic_ref<uint32_t>(*w).fetch_and(~HV_APIC_ASSIST_NO_EOI_REQUIRED) & HV_APIC_ASSIST_NO_EOI_REQUIRED) != 0;
}
uint64_t core_pv_eois(DirectVm& d) {
  const MetricsStorage& m = d.vm().metrics_storage();
  uint64_t sum = 0;
  for (uint32_t v = 0; v < d.vcpu_count(); ++v)
    sum += m.core_counters[static_cast<size_t>(v) * MetricsStorage::kCoreCounterCount + MetricsStorage::kPvEois];
  return sum;
}

// ---- CPUID -------------------------------------------------------------------

TEST(VapicCpuid, AdvertisesAccessIntrCtrlRegsAndRecommendsTheMsrs) {
  // QEMU hv-vapic: 0x40000003.EAX = AccessIntrCtrlRegs | AccessHypercallMsrs
  // (0x30), 0x40000004.EAX = APIC access recommended (0x8).
  auto d = make_vm("hv-vapic");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES),
            (CpuidValue{HV_ACCESS_INTR_CTRL_REGS | HV_ACCESS_HYPERCALL_MSRS, 0, 0,
                        HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO),
            (CpuidValue{HV_RECOMMEND_MSR_APIC_ACCESS, HV_SPINLOCK_NEVER_NOTIFY, 0, 0}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax, 0x30u);
}

TEST(VapicCpuid, RecommendationComposesWithOtherPluginsBits) {
  auto d = make_vm("hv-relaxed,hv-vapic");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax, HV_RECOMMEND_MSR_APIC_ACCESS | HV_RECOMMEND_RELAXED_TIMING);
}

// The three cases QEMU distinguishes in hyperv_fill_cpuids(): bit 3 is set
// for hv-vapic alone, clear for hv-avic alone and for both.
TEST(VapicCpuid, AvicClearsTheRecommendationWhateverTheOrder) {
  struct Case {
    const char* flags;
    uint32_t eax3, eax4;
  };
  for (const Case& c : {Case{"hv-vapic", 0x30, HV_RECOMMEND_MSR_APIC_ACCESS},
                        Case{"hv-avic", 0x20, HV_RECOMMEND_DEPRECATE_AUTO_EOI},
                        Case{"hv-vapic,hv-avic", 0x30, HV_RECOMMEND_DEPRECATE_AUTO_EOI},
                        Case{"hv-avic,hv-vapic", 0x30, HV_RECOMMEND_DEPRECATE_AUTO_EOI},
                        Case{"hv-vapic,hv-relaxed,hv-avic", 0x30,
                             HV_RECOMMEND_DEPRECATE_AUTO_EOI | HV_RECOMMEND_RELAXED_TIMING},
                        Case{"hv-vapic,hv-avic,hv-avic=off", 0x30, HV_RECOMMEND_MSR_APIC_ACCESS}}) {
    SCOPED_TRACE(c.flags);
    auto d = make_vm(c.flags, 2);
    for (uint32_t v = 0; v < 2; ++v) {
      EXPECT_EQ(d->cpuid(v, HV_CPUID_FEATURES).eax, c.eax3);
      EXPECT_EQ(d->cpuid(v, HV_CPUID_ENLIGHTENMENT_INFO).eax, c.eax4);
    }
  }
}

TEST(VapicCpuid, OffMeansNoBits) {
  auto d = make_vm("hv-vapic=off,hv-relaxed");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax & HV_ACCESS_INTR_CTRL_REGS, 0u);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax & HV_RECOMMEND_MSR_APIC_ACCESS, 0u);
}

// ---- Which MSRs ------------------------------------------------------------------

TEST(VapicMsrs, ClaimsExactlyTheFourMsrs) {
  auto d = make_vm("hv-vapic");
  for (uint32_t i = HV_X64_MSR_SYNTHETIC_FIRST; i <= HV_X64_MSR_SYNTHETIC_LAST; ++i) {
    const bool readable = i == HV_X64_MSR_GUEST_OS_ID || i == HV_X64_MSR_HYPERCALL || i == HV_X64_MSR_ICR ||
                          i == HV_X64_MSR_TPR || i == HV_X64_MSR_VP_ASSIST_PAGE;
    EXPECT_EQ(d->rdmsr(0, i).ok(), readable) << std::hex << i;
  }
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_EOI - 1, 0), Access::GP);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE + 1, 0), Access::GP);
}

TEST(VapicMsrs, AbsentWithoutThePlugin) {
  auto d = make_vm("hv-relaxed");
  for (uint32_t msr : {HV_X64_MSR_EOI, HV_X64_MSR_ICR, HV_X64_MSR_TPR}) {
    EXPECT_TRUE(d->rdmsr(0, msr).gp()) << std::hex << msr;
    EXPECT_EQ(d->wrmsr(0, msr, 0), Access::GP) << std::hex << msr;
  }
  // The VP assist page is identity's then (tests/plugins/identity), as KVM
  // keeps it for a guest that writes it without the feature.
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_VP_ASSIST_PAGE).ok());
  EXPECT_EQ(counter(*d, "enlight_vapic_assist_page_enables_total"), -1) << "vapic is not loaded";
}

TEST(VapicMsrs, ResetValues) {
  auto d = make_vm("hv-vapic", 2);
  for (uint32_t v = 0; v < 2; ++v) {
    for (uint32_t msr : {HV_X64_MSR_ICR, HV_X64_MSR_TPR, HV_X64_MSR_VP_ASSIST_PAGE}) {
      const MsrRead r = d->rdmsr(v, msr);
      EXPECT_TRUE(r.ok()) << std::hex << msr;
      EXPECT_EQ(r.value, 0u) << std::hex << msr;
    }
  }
  for (const char* name : {"enlight_vapic_eoi_msr_total", "enlight_vapic_icr_writes_total",
                           "enlight_vapic_assist_page_enables_total"})
    EXPECT_EQ(counter(*d, name), 0) << name;
}

// ---- HV_X64_MSR_EOI ------------------------------------------------------------

TEST(VapicEoi, IsWriteOnly) {
  auto d = make_vm("hv-vapic");
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_EOI).gp());
  EXPECT_TRUE(d->host_rdmsr(0, HV_X64_MSR_EOI).gp());
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);  // nothing in service: harmless
}

TEST(VapicEoi, RetiresTheInServiceVector) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x51)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x51));
  EXPECT_TRUE(d->in_service(0, 0x51));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);
  EXPECT_FALSE(d->in_service(0, 0x51));
  EXPECT_EQ(counter(*d, "enlight_vapic_eoi_msr_total"), 1);
  EXPECT_EQ(counter(*d, "enlight_vapic_icr_writes_total"), 1);
}

TEST(VapicEoi, RetiresTheHighestInServiceVectorOnly) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x40)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x40));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x90)), Access::Ok);  // nests: a higher class
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x90));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);
  EXPECT_FALSE(d->in_service(0, 0x90));
  EXPECT_TRUE(d->in_service(0, 0x40));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);
  EXPECT_FALSE(d->in_service(0, 0x40));
}

// TLFS: 31:0 "EOI value" (given no meaning; KVM ignores it), 63:32 RsvdZ
// (#GP, as KVM's kvm_lapic_msr_write()).
TEST(VapicEoi, ValueIsIgnoredReservedBitsAreGp) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x52)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x52));
  for (uint64_t bad : {uint64_t{1} << 32, uint64_t{1} << 63, ~uint64_t{0}}) {
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, bad), Access::GP) << hex(bad);
    EXPECT_TRUE(d->in_service(0, 0x52)) << hex(bad);
  }
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, 0xFFFFFFFF), Access::Ok);
  EXPECT_FALSE(d->in_service(0, 0x52));
  EXPECT_EQ(counter(*d, "enlight_vapic_eoi_msr_total"), 1);
}

TEST(VapicEoi, HostWriteDoesNotRetireAnything) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x53)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x53));
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);
  EXPECT_TRUE(d->in_service(0, 0x53));
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_EOI, uint64_t{1} << 40), Access::GP);
  EXPECT_EQ(counter(*d, "enlight_vapic_eoi_msr_total"), 0);
}

// ---- HV_X64_MSR_ICR ------------------------------------------------------------

// The direct backend's APIC starts in x2APIC mode (EXTD set): the Hyper-V
// ICR then has the x2APIC layout, destination in 63:32 (KVM, Hyper-V).
TEST(VapicIcr, X2apicModeDeliversToTheDestinationIn63To32) {
  auto d = make_vm("hv-vapic", 4);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, x2apic_ipi(2, 0x60)), Access::Ok);
  for (uint32_t v = 0; v < 4; ++v)
    EXPECT_EQ(d->take_interrupt(v), v == 2 ? std::optional<uint8_t>(0x60) : std::nullopt) << v;
  // An xAPIC-style destination in 63:56 is x2APIC ID 0x03000000: nobody.
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_ICR, xapic_ipi(3, 0x61)), Access::Ok);
  for (uint32_t v = 0; v < 4; ++v) EXPECT_EQ(d->take_interrupt(v), std::nullopt) << v;
}

// In xAPIC mode the TLFS's "ICR-high" is the memory-mapped one: the
// destination is ICR-high 31:24 = ICR bits 63:56, which the plugin moves to
// the x2APIC position the APIC model takes; ICR-high 23:0 are reserved.
TEST(VapicIcr, XapicModeDeliversToTheDestinationIn63To56) {
  auto d = make_vm("hv-vapic", 4);
  ASSERT_TRUE(d->apic_write(1, kIa32ApicBase, kApicBaseEn));  // vCPU 1 leaves x2APIC mode
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_ICR, xapic_ipi(3, 0x62) | (uint64_t{0xABCDEF} << 32)), Access::Ok);
  for (uint32_t v = 0; v < 4; ++v)
    EXPECT_EQ(d->take_interrupt(v), v == 3 ? std::optional<uint8_t>(0x62) : std::nullopt) << v;
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_ICR, xapic_ipi(0, 0x63)), Access::Ok);
  EXPECT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x63));
  // vCPU 0 is still in x2APIC mode: its ICR keeps the x2APIC layout.
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, x2apic_ipi(1, 0x64)), Access::Ok);
  EXPECT_EQ(d->take_interrupt(1), std::optional<uint8_t>(0x64));
}

TEST(VapicIcr, SelfIpiShorthand) {
  auto d = make_vm("hv-vapic", 2);
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_ICR, self_ipi(0x70)), Access::Ok);
  EXPECT_EQ(d->take_interrupt(0), std::nullopt);
  EXPECT_EQ(d->take_interrupt(1), std::optional<uint8_t>(0x70));
}

// Read/write (TLFS): reads return the last value written, without delivery
// status (bit 12): delivery is instant, the bit reads 0 as under KVM.
TEST(VapicIcr, ReadsBackWhatWasWrittenWithoutDeliveryStatus) {
  auto d = make_vm("hv-vapic", 2);
  const uint64_t v = x2apic_ipi(1, 0x71) | kIcrDeliveryStatus;
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, v), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_ICR).value, v & ~kIcrDeliveryStatus);
  EXPECT_EQ(d->host_rdmsr(0, HV_X64_MSR_ICR).value, v & ~kIcrDeliveryStatus);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_ICR).value, 0u);  // per vCPU
  EXPECT_EQ(d->take_interrupt(1), std::optional<uint8_t>(0x71));
}

TEST(VapicIcr, NonFixedDeliveryIsAcceptedAndSendsNothing) {
  // The model only routes fixed IPIs (INIT/SIPI belong to the VMM).
  auto d = make_vm("hv-vapic", 2);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, x2apic_ipi(1, 0) | kIcrInit), Access::Ok);
  EXPECT_EQ(d->take_interrupt(1), std::nullopt);
}

// Restore sets the register without sending an IPI the source VM already sent.
TEST(VapicIcr, HostWriteRestoresWithoutSending) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x72)), Access::Ok);
  EXPECT_EQ(d->take_interrupt(0), std::nullopt);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_ICR).value, self_ipi(0x72));
  EXPECT_EQ(counter(*d, "enlight_vapic_icr_writes_total"), 0);
}

// ---- HV_X64_MSR_TPR ------------------------------------------------------------

TEST(VapicTpr, IsTheApicsTpr) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_TPR, 0x50), Access::Ok);
  uint64_t x2 = 0;
  ASSERT_TRUE(d->apic_read(0, HV_X64_MSR_TPR_X2APIC_INDEX, x2));
  EXPECT_EQ(x2, 0x50u);
  ASSERT_TRUE(d->apic_write(0, HV_X64_MSR_TPR_X2APIC_INDEX, 0x20));  // the guest's x2APIC write
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_TPR).value, 0x20u);
}

TEST(VapicTpr, MasksDelivery) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_TPR, 0x50), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x45)), Access::Ok);  // class 4 <= 5
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x55)), Access::Ok);  // class 5 <= 5
  EXPECT_EQ(d->take_interrupt(0), std::nullopt);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_TPR, 0x40), Access::Ok);
  EXPECT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x55));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);
  EXPECT_EQ(d->take_interrupt(0), std::nullopt);  // 0x45 still masked
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_TPR, 0), Access::Ok);
  EXPECT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x45));
}

// TLFS: 7:0, 63:8 RsvdZ. As KVM: 63:32 set is #GP, 31:8 are dropped.
TEST(VapicTpr, ReservedBits) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_TPR, 0x30), Access::Ok);
  for (uint64_t bad : {uint64_t{1} << 32, uint64_t{0x30} | (uint64_t{1} << 63), ~uint64_t{0}}) {
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_TPR, bad), Access::GP) << hex(bad);
    EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_TPR).value, 0x30u) << hex(bad);
  }
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_TPR, 0xFFFFFF60), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_TPR).value, 0x60u);
}

TEST(VapicTpr, HostWriteRestores) {
  auto d = make_vm("hv-vapic", 2);
  ASSERT_EQ(d->host_wrmsr(1, HV_X64_MSR_TPR, 0xA0), Access::Ok);
  EXPECT_EQ(d->host_rdmsr(1, HV_X64_MSR_TPR).value, 0xA0u);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_TPR).value, 0u);
}

// ---- HV_X64_MSR_VP_ASSIST_PAGE -------------------------------------------------

TEST(VapicAssistPage, StoresTheValueAsWritten) {
  auto d = make_vm("hv-vapic", 2);
  // RsvdP bits 11:1 are kept as written and read back (KVM stores `data`).
  const uint64_t v = kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE | HV_X64_MSR_VP_ASSIST_PAGE_RSVDP_MASK;
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_VP_ASSIST_PAGE, v), Access::Ok);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_ASSIST_PAGE).value, v);
  EXPECT_EQ(d->host_rdmsr(1, HV_X64_MSR_VP_ASSIST_PAGE).value, v);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_ASSIST_PAGE).value, 0u);  // per vCPU
  // Disabling keeps the rest of the value too.
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_VP_ASSIST_PAGE, kPage), Access::Ok);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_ASSIST_PAGE).value, kPage);
  EXPECT_EQ(counter(*d, "enlight_vapic_assist_page_enables_total"), 1);
}

// As KVM: enabling clears the 32-bit APIC-assist word only; the rest of the
// page may hold state worth keeping.
TEST(VapicAssistPage, EnablingClearsOnlyTheApicAssistWord) {
  auto d = make_vm("hv-vapic");
  std::memset(d->memory().base() + kPage, 0xA5, HV_PAGE_SIZE);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  EXPECT_EQ(assist_word(*d, kPage), 0u);
  for (uint64_t i = HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET + sizeof(uint32_t); i < HV_PAGE_SIZE; ++i)
    ASSERT_EQ(d->memory().base()[kPage + i], 0xA5) << i;
  // Disabling touches nothing.
  std::memset(d->memory().base() + kPage, 0x5A, sizeof(uint32_t));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, 0), Access::Ok);
  EXPECT_EQ(assist_word(*d, kPage), 0x5A5A5A5Au);
}

// The TLFS "EOI Assist" protocol end to end: the backend grants "No EOI
// required" as the interrupt is taken; the guest clears the bit instead of
// writing EOI; the backend retires the vector before the next delivery.
TEST(VapicAssistPage, GuestClearingTheAssistBitRetiresTheVector) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x80)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x80));
  EXPECT_EQ(assist_word(*d, kPage) & HV_APIC_ASSIST_NO_EOI_REQUIRED, HV_APIC_ASSIST_NO_EOI_REQUIRED);
  EXPECT_TRUE(d->in_service(0, 0x80));
  ASSERT_TRUE(guest_pv_eoi(*d, kPage));  // the bit was set: no EOI MSR write
  EXPECT_EQ(d->take_interrupt(0), std::nullopt);
  EXPECT_FALSE(d->in_service(0, 0x80));
  EXPECT_EQ(core_pv_eois(*d), 1u);
  EXPECT_EQ(counter(*d, "enlight_vapic_eoi_msr_total"), 0);
  // And again, for the next interrupt.
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x81)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x81));
  ASSERT_TRUE(guest_pv_eoi(*d, kPage));
  EXPECT_EQ(d->take_interrupt(0), std::nullopt);
  EXPECT_FALSE(d->in_service(0, 0x81));
  EXPECT_EQ(core_pv_eois(*d), 2u);
}

// TLFS: "conventional EOIs can still be performed irrespective of the 'No
// EOI required' value".
TEST(VapicAssistPage, AnEoiMsrWriteStillWorksAndTakesTheGrantBack) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x82)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x82));
  ASSERT_EQ(assist_word(*d, kPage) & HV_APIC_ASSIST_NO_EOI_REQUIRED, HV_APIC_ASSIST_NO_EOI_REQUIRED);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);
  EXPECT_FALSE(d->in_service(0, 0x82));
  EXPECT_EQ(assist_word(*d, kPage) & HV_APIC_ASSIST_NO_EOI_REQUIRED, 0u);
  EXPECT_EQ(core_pv_eois(*d), 0u);
}

TEST(VapicAssistPage, DisablingStopsPvEoi) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  // A grant in flight when the page goes away is taken back: the guest
  // must then EOI through the MSR.
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x83)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x83));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage), Access::Ok);
  EXPECT_EQ(assist_word(*d, kPage) & HV_APIC_ASSIST_NO_EOI_REQUIRED, 0u);
  EXPECT_EQ(d->take_interrupt(0), std::nullopt);
  EXPECT_TRUE(d->in_service(0, 0x83));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);
  // No grant for the next one.
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x84)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x84));
  EXPECT_EQ(assist_word(*d, kPage), 0u);
  EXPECT_TRUE(d->in_service(0, 0x84));
}

TEST(VapicAssistPage, MovingThePageMovesPvEoi) {
  auto d = make_vm("hv-vapic");
  constexpr uint64_t kOther = kPage + 4 * HV_PAGE_SIZE;
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kOther | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x85)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x85));
  EXPECT_EQ(assist_word(*d, kPage), 0u);
  EXPECT_EQ(assist_word(*d, kOther), HV_APIC_ASSIST_NO_EOI_REQUIRED);
  EXPECT_EQ(counter(*d, "enlight_vapic_assist_page_enables_total"), 2);
}

// KVM's answer, and the only one that never touches memory outside RAM: a
// page not entirely in guest RAM is #GP and the register keeps its value.
TEST(VapicAssistPage, PageOutsideRamIsGpAndChangesNothing) {
  VmOptions o;
  o.memory_bytes = (64ull << 20) + HV_PAGE_SIZE / 2;  // RAM ends in the middle of a page
  auto d = make_vm("hv-vapic", 1, o);
  const uint64_t last_full = (64ull << 20) - HV_PAGE_SIZE, straddling = 64ull << 20;
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  std::memset(d->memory().base() + straddling, 0xEE, HV_PAGE_SIZE / 2);
  for (uint64_t page : {straddling, straddling + HV_PAGE_SIZE, uint64_t{1} << 40, HV_X64_MSR_VP_ASSIST_PAGE_PAGE_MASK}) {
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, page | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::GP) << hex(page);
    EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, page | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::GP) << hex(page);
    EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_ASSIST_PAGE).value, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE) << hex(page);
  }
  // The half page that is RAM was not cleared either.
  EXPECT_EQ(assist_word(*d, straddling), 0xEEEEEEEEu);
  // PV EOI still works on the page that stayed.
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x86)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x86));
  EXPECT_EQ(assist_word(*d, kPage), HV_APIC_ASSIST_NO_EOI_REQUIRED);
  // The last whole page is fine; disabling with any GPA is fine.
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, last_full | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, HV_X64_MSR_VP_ASSIST_PAGE_PAGE_MASK), Access::Ok);
}

TEST(VapicAssistPage, HostWriteRestoresAndRewiresPvEoi) {
  auto d = make_vm("hv-vapic");
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_ASSIST_PAGE).value, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x87)), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x87));
  EXPECT_EQ(assist_word(*d, kPage), HV_APIC_ASSIST_NO_EOI_REQUIRED);
  EXPECT_EQ(counter(*d, "enlight_vapic_assist_page_enables_total"), 0);  // guest enables only
}

// ---- Hostile values ---------------------------------------------------------------

TEST(VapicMsrs, GarbageNeverCrashesNorStopsTheVm) {
  auto d = make_vm("hv-vapic", 2);
  std::mt19937_64 rng(0x5eed);
  const uint64_t specials[] = {0, ~uint64_t{0}, uint64_t{1} << 63, HV_X64_MSR_VP_ASSIST_PAGE_PAGE_MASK,
                               (64ull << 20) | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE, HV_X64_MSR_VP_ASSIST_PAGE_ENABLE,
                               (64ull << 20) - HV_PAGE_SIZE + 1, 0xFFFFFFFFull};
  for (int i = 0; i < 4000; ++i) {
    const uint64_t value = i < static_cast<int>(std::size(specials)) ? specials[i] : rng();
    const uint32_t vcpu = static_cast<uint32_t>(i & 1);
    for (uint32_t msr : {HV_X64_MSR_EOI, HV_X64_MSR_ICR, HV_X64_MSR_TPR, HV_X64_MSR_VP_ASSIST_PAGE}) {
      const Access a = (i & 2) ? d->host_wrmsr(vcpu, msr, value) : d->wrmsr(vcpu, msr, value);
      ASSERT_NE(a, Access::Fault) << std::hex << msr << " " << hex(value);
      if (msr == HV_X64_MSR_VP_ASSIST_PAGE && a == Access::Ok) {
        ASSERT_EQ(d->rdmsr(vcpu, msr).value, value);
      }
      if (msr == HV_X64_MSR_TPR) {
        ASSERT_LE(d->rdmsr(vcpu, msr).value, HV_X64_MSR_TPR_VALUE_MASK);
      }
    }
    while (d->take_interrupt(vcpu)) {
    }
  }
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

// ---- enforce-cpuid -------------------------------------------------------------

TEST(VapicEnforceCpuid, EveryMsrWorksSinceTheGateIsAdvertised) {
  auto d = make_vm("hv-vapic,hv-enforce-cpuid");
  ASSERT_TRUE(d->vm().resolution().enforce_cpuid);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_TPR, 0x10), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_TPR).value, 0x10u);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_ICR, self_ipi(0x90)), Access::Ok);
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_ICR).ok());
  EXPECT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x90));
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_VP_ASSIST_PAGE).ok());
}

// To see the gate close, the manifest is copied into a directory that
// shadows the build's, with AccessIntrCtrlRegs replaced by a bit nobody
// advertises (as tests/plugins/combined does for the other plugins).
class VapicClosedGate : public ::testing::Test {
 protected:
  void SetUp() override {
    if (enlight::find_static_plugin("vapic") != nullptr)
      GTEST_SKIP() << "vapic is built in (ENLIGHT_STATIC_PLUGINS): manifests on disk cannot shadow it";
  }
  std::vector<std::string> shadowed_search_path() {
    const std::filesystem::path real = std::filesystem::path(ENLIGHT_TEST_PLUGIN_DIR);
    std::string text = read_file(real / "vapic.yaml");
    for (int i = 0; i < 4; ++i) text = replace_once_first(text, "gate: 0x40000003.eax[4]", "gate: 0x40000003.eax[12]");
    EXPECT_EQ(text.find("gate: 0x40000003.eax[4]"), std::string::npos);
    text = replace_once(text, "library: vapic.so", "library: " + (real / "vapic.so").string());
    dir_.write("vapic.yaml", text);
    return {dir_.path().string(), real.string()};
  }
  static std::string replace_once_first(std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? text : text.replace(at, from.size(), to);
  }
  TempDir dir_;
};

TEST_F(VapicClosedGate, GuestIsDeniedUnderEnforceHostIsNot) {
  auto d = DirectVm::from_flags("hv-vapic,hv-enforce-cpuid", 1, shadowed_search_path());
  for (uint32_t msr : {HV_X64_MSR_EOI, HV_X64_MSR_ICR, HV_X64_MSR_TPR, HV_X64_MSR_VP_ASSIST_PAGE}) {
    EXPECT_EQ(d->wrmsr(0, msr, 0), Access::GP) << std::hex << msr;
    EXPECT_TRUE(d->rdmsr(0, msr).gp()) << std::hex << msr;
  }
  for (uint32_t msr : {HV_X64_MSR_ICR, HV_X64_MSR_TPR, HV_X64_MSR_VP_ASSIST_PAGE}) {
    EXPECT_TRUE(d->host_rdmsr(0, msr).ok()) << std::hex << msr;
    EXPECT_EQ(d->host_wrmsr(0, msr, 0), Access::Ok) << std::hex << msr;
  }
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST_F(VapicClosedGate, GuestIsServedWithoutEnforce) {
  auto d = DirectVm::from_flags("hv-vapic", 1, shadowed_search_path());
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_TPR, 0x10), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);
}

// ---- A recording fake backend ----------------------------------------------------

// Records what the plugin asks of the APIC, and can lack IA32_APIC_BASE,
// PV EOI or the APIC itself, or answer ICR reads.
struct FakeApic {
  std::mutex mutex;
  bool apic = true, apic_base_readable = true, icr_readable = false, pv_eoi = true;
  uint64_t apic_base = kApicBaseEn | kApicBaseExtd, icr = 0, tpr = 0;
  std::vector<std::pair<uint32_t, uint64_t>> writes;
  std::vector<uint64_t> pv_eoi_calls;

  VmOptions options(const std::shared_ptr<FakeApic>& self) {
    VmOptions o;
    o.hooks.apic_read = [self](uint32_t, uint32_t msr, uint64_t& value) {
      std::lock_guard lock(self->mutex);
      if (!self->apic) return false;
      if (msr == kIa32ApicBase && self->apic_base_readable) {
        value = self->apic_base;
      } else if (msr == HV_X64_MSR_ICR_X2APIC_INDEX && self->icr_readable) {
        value = self->icr;
      } else if (msr == HV_X64_MSR_TPR_X2APIC_INDEX) {
        value = self->tpr;
      } else {
        return false;
      }
      return true;
    };
    o.hooks.apic_write = [self](uint32_t, uint32_t msr, uint64_t value) {
      std::lock_guard lock(self->mutex);
      if (!self->apic) return false;
      self->writes.emplace_back(msr, value);
      if (msr == HV_X64_MSR_TPR_X2APIC_INDEX) self->tpr = value;
      return true;
    };
    o.hooks.pv_eoi_set = [self](uint32_t, uint64_t gpa) {
      std::lock_guard lock(self->mutex);
      self->pv_eoi_calls.push_back(gpa);
      return self->pv_eoi;
    };
    return o;
  }
  std::pair<uint32_t, uint64_t> last_write() {
    std::lock_guard lock(mutex);
    return writes.empty() ? std::pair<uint32_t, uint64_t>{0, 0} : writes.back();
  }
};

struct FakeVm {
  std::shared_ptr<FakeApic> apic = std::make_shared<FakeApic>();
  std::unique_ptr<Vm> vm;
  explicit FakeVm(const std::string& flags = "hv-vapic") {
    const Catalog catalog = Catalog::discover(plugin_dir());
    Profile profile = parse_cpu_flags(flags, catalog);
    vm = Vm::create(resolve(profile, catalog, direct::capabilities()), apic->options(apic));
  }
  Access wrmsr(uint32_t msr, uint64_t value) { return vm->bus().msr_write(vm->vcpu(0), msr, value); }
  MsrRead rdmsr(uint32_t msr) {
    MsrRead r;
    r.access = vm->bus().msr_read(vm->vcpu(0), msr, r.value);
    return r;
  }
};

TEST(VapicFakeBackend, ForwardsTheX2apicRegisters) {
  FakeVm f;
  ASSERT_EQ(f.wrmsr(HV_X64_MSR_EOI, 0x1234), Access::Ok);
  EXPECT_EQ(f.apic->last_write(), (std::pair<uint32_t, uint64_t>{HV_X64_MSR_EOI_X2APIC_INDEX, 0}));  // x2APIC EOI wants 0
  ASSERT_EQ(f.wrmsr(HV_X64_MSR_TPR, 0xABC0), Access::Ok);
  EXPECT_EQ(f.apic->last_write(), (std::pair<uint32_t, uint64_t>{HV_X64_MSR_TPR_X2APIC_INDEX, 0xC0}));
  const uint64_t icr = x2apic_ipi(0x12345678, 0x40) | kIcrLogical | kIcrDeliveryStatus;
  ASSERT_EQ(f.wrmsr(HV_X64_MSR_ICR, icr), Access::Ok);
  EXPECT_EQ(f.apic->last_write(), (std::pair<uint32_t, uint64_t>{HV_X64_MSR_ICR_X2APIC_INDEX, icr & ~kIcrDeliveryStatus}));
}

TEST(VapicFakeBackend, XapicDestinationConversion) {
  FakeVm f;
  f.apic->apic_base = kApicBaseEn;  // xAPIC mode
  struct Case {
    uint64_t hv, x2apic;
  };
  for (const Case& c : {
           Case{xapic_ipi(7, 0x41), x2apic_ipi(7, 0x41)},
           // ICR-high 23:0 are reserved in xAPIC mode and do not leak into the ID.
           Case{xapic_ipi(7, 0x42) | (uint64_t{0xFFFFFF} << 32), x2apic_ipi(7, 0x42)},
           // The xAPIC broadcast becomes the x2APIC one.
           Case{xapic_ipi(0xFF, 0x43), x2apic_ipi(0xFFFFFFFF, 0x43)},
           Case{xapic_ipi(0xFF, 0x44) | kIcrLogical, x2apic_ipi(0xFFFFFFFF, 0x44) | kIcrLogical},
           // A logical destination keeps its 8 bits.
           Case{xapic_ipi(0x0C, 0x45) | kIcrLogical, x2apic_ipi(0x0C, 0x45) | kIcrLogical},
           Case{self_ipi(0x46), self_ipi(0x46)},
       }) {
    ASSERT_EQ(f.wrmsr(HV_X64_MSR_ICR, c.hv), Access::Ok) << hex(c.hv);
    EXPECT_EQ(f.apic->last_write(), (std::pair<uint32_t, uint64_t>{HV_X64_MSR_ICR_X2APIC_INDEX, c.x2apic})) << hex(c.hv);
  }
}

TEST(VapicFakeBackend, ApicBaseRefusedMeansX2apicLayout) {
  FakeVm f;
  f.apic->apic_base_readable = false;
  ASSERT_EQ(f.wrmsr(HV_X64_MSR_ICR, x2apic_ipi(0x300, 0x47)), Access::Ok);
  EXPECT_EQ(f.apic->last_write(), (std::pair<uint32_t, uint64_t>{HV_X64_MSR_ICR_X2APIC_INDEX, x2apic_ipi(0x300, 0x47)}));
}

// Reads answer the last value written through the MSR, whatever the APIC
// would say for 0x830 (the shared model answers a masked LVT there).
TEST(VapicFakeBackend, IcrReadIsTheLastValueWritten) {
  FakeVm f;
  f.apic->icr_readable = true;
  f.apic->icr = x2apic_ipi(5, 0x48);
  EXPECT_EQ(f.rdmsr(HV_X64_MSR_ICR).value, 0u);
  f.apic->apic_base = kApicBaseEn;  // xAPIC mode: read back in the layout written
  ASSERT_EQ(f.wrmsr(HV_X64_MSR_ICR, xapic_ipi(6, 0x49)), Access::Ok);
  EXPECT_EQ(f.rdmsr(HV_X64_MSR_ICR).value, xapic_ipi(6, 0x49));
}

TEST(VapicFakeBackend, NoApicMeansGp) {
  FakeVm f;
  f.apic->apic = false;
  EXPECT_EQ(f.wrmsr(HV_X64_MSR_EOI, 0), Access::GP);
  EXPECT_EQ(f.wrmsr(HV_X64_MSR_ICR, self_ipi(0x49)), Access::GP);
  EXPECT_TRUE(f.rdmsr(HV_X64_MSR_ICR).gp());
  EXPECT_EQ(f.wrmsr(HV_X64_MSR_TPR, 0x10), Access::GP);
  EXPECT_TRUE(f.rdmsr(HV_X64_MSR_TPR).gp());
  // The VP assist page needs no APIC: it is stored (PV EOI is the backend's).
  EXPECT_EQ(f.wrmsr(HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  EXPECT_EQ(f.vm->stop_reason(), StopReason::None);
}

TEST(VapicFakeBackend, NoHooksAtAllMeansGp) {
  // A backend that offers no APIC service at all (the core answers -1).
  const Catalog catalog = Catalog::discover(plugin_dir());
  auto vm = Vm::create(resolve(parse_cpu_flags("hv-vapic", catalog), catalog, direct::capabilities()), VmOptions{});
  uint64_t value = 0;
  EXPECT_EQ(vm->bus().msr_write(vm->vcpu(0), HV_X64_MSR_EOI, 0), Access::GP);
  EXPECT_EQ(vm->bus().msr_read(vm->vcpu(0), HV_X64_MSR_TPR, value), Access::GP);
  EXPECT_EQ(vm->bus().msr_write(vm->vcpu(0), HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  EXPECT_EQ(vm->bus().msr_read(vm->vcpu(0), HV_X64_MSR_VP_ASSIST_PAGE, value), Access::Ok);
  EXPECT_EQ(value, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE);
}

// A backend without PV EOI: the MSR write succeeds, PV EOI just does not
// happen (the guest is never told it may skip an EOI).
TEST(VapicFakeBackend, PvEoiRefusedStillEnablesThePage) {
  FakeVm f;
  f.apic->pv_eoi = false;
  std::memset(f.vm->memory().base() + kPage, 0xFF, sizeof(uint32_t));
  ASSERT_EQ(f.wrmsr(HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  EXPECT_EQ(f.rdmsr(HV_X64_MSR_VP_ASSIST_PAGE).value, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE);
  uint32_t word = 1;
  std::memcpy(&word, f.vm->memory().base() + kPage, sizeof word);
  EXPECT_EQ(word, 0u);
  // It asked for the word, and after the refusal made sure nothing stale stays.
  std::lock_guard lock(f.apic->mutex);
  EXPECT_EQ(f.apic->pv_eoi_calls, (std::vector<uint64_t>{kPage + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET, 0}));
}

TEST(VapicFakeBackend, PvEoiCallsFollowEnableAndDisable) {
  FakeVm f;
  ASSERT_EQ(f.wrmsr(HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  ASSERT_EQ(f.wrmsr(HV_X64_MSR_VP_ASSIST_PAGE, kPage), Access::Ok);
  ASSERT_EQ(f.wrmsr(HV_X64_MSR_VP_ASSIST_PAGE, (uint64_t{1} << 50) | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::GP);
  std::lock_guard lock(f.apic->mutex);
  EXPECT_EQ(f.apic->pv_eoi_calls, (std::vector<uint64_t>{kPage + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET, 0}));
}

}  // namespace
}  // namespace enlight::test
