// conformance-tlbflush and conformance-ipi on the emu backend (Unicorn):
// what conformance-cases.txt cannot say, namely a guest METRIC the host
// requires here and runs that need a plugin option (vpindex's `base`),
// which no --cpu flag can set. The cases file runs both guests under their
// flags on emu and kvm as well.
#include "vmbus_guest_checks.hpp"  // run_profile, describe, metric, expect_all_pass: not VMBus-specific

#include <gtest/gtest.h>

#include <string>

namespace {

using enlight::BackendKind;
namespace g = enlight::test::vmbus_guests;

g::HostView run_flags(const std::string& guest, const std::string& flags, uint32_t vcpus) {
  const enlight::Catalog catalog = enlight::Catalog::discover({ENLIGHT_TEST_PLUGIN_DIR});
  enlight::Profile profile = enlight::parse_cpu_flags(flags, catalog);
  profile.vcpus = vcpus;
  return g::run_profile(BackendKind::Emu, guest, profile, catalog, std::chrono::seconds(120));
}

g::HostView run_yaml(const std::string& guest, const std::string& yaml) {
  const enlight::Catalog catalog = enlight::Catalog::discover({ENLIGHT_TEST_PLUGIN_DIR});
  const enlight::Profile profile = enlight::parse_profile(yaml, "<tlb_ipi_emu_test>");
  return g::run_profile(BackendKind::Emu, guest, profile, catalog, std::chrono::seconds(120));
}

// The value of `name` reported by vCPU `vcpu`, or ~0 when it reported none.
uint64_t metric_of(const enlight::RunResult& r, const std::string& name, uint32_t vcpu) {
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_METRIC && c.name == name && c.vcpu == vcpu) return c.actual;
  return ~uint64_t{0};
}

bool passed(const enlight::RunResult& r, const std::string& check) {
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_CHECK_PASS && c.name == check) return true;
  return false;
}

// Every flush form made vCPU 1 stop using a translation it had cached (it
// took #PF on a page made not present, or re-walked a page whose accessed
// bit was cleared), and the same two rounds without a flush let it use the
// stale one: the experiment can tell a flush from none here. That is a
// property of this backend, so the guest reports it as METRICs and this
// test, not the guest, requires them: each vCPU is its own Unicorn engine
// with its own softmmu TLB, which keeps a translation until that engine's
// TLB is flushed (INVLPG, a CR3/CR4 write, or the backend's remote flush)
// whatever happens to the PTE in memory. Were they 0, every check of a
// flush round would pass even with a flush that did nothing.
TEST(TlbflushOnEmu, FlushesAreSeenAndNoFlushLeavesTheStaleTranslation) {
  const g::HostView v = run_flags("conformance-tlbflush", "hv-vpindex,hv-tlbflush", 2);
  g::expect_all_pass(v.result);
  EXPECT_EQ(g::metric(v.result, "tlb.stale_seen_without_flush"), 1u) << g::describe(v.result);
  EXPECT_EQ(g::metric(v.result, "tlb.stale_seen_without_flush_accessed"), 1u) << g::describe(v.result);
  EXPECT_TRUE(passed(v.result, "flush.space.vcpu1.sees_not_present")) << g::describe(v.result);
  EXPECT_TRUE(passed(v.result, "flush.list_ex.sparse.vcpu1.rewalked")) << g::describe(v.result);
  // The plugin completed a flush in each of the 12 rounds that make one,
  // and for the valid call naming only an absent VP.
  EXPECT_GE(g::counter(v, "enlight_tlbflush_hypercalls_total"), 13u) << g::describe(v.result);
}

// VP indexes 64 and 65 (vpindex base 64): every VP is in bank 1 of an
// HV_VP_SET, no ProcessorMask can name one, and the Ex cases must still
// reach exactly the named vCPUs.
TEST(IpiOnEmu, VpIndexBase64) {
  const g::HostView v = run_yaml("conformance-ipi",
                                 "name: ipi-vpindex-base-64\n"
                                 "vcpus: 2\n"
                                 "enlightenments:\n"
                                 "  - vpindex: { base: 64 }\n"
                                 "  - ipi\n");
  const auto& r = v.result;
  g::expect_all_pass(r);
  EXPECT_EQ(metric_of(r, "vp_index", 0), 64u) << g::describe(r);
  EXPECT_EQ(metric_of(r, "vp_index", 1), 65u) << g::describe(r);
  EXPECT_TRUE(passed(r, "ipi.ex.high_banks.vcpu1.count")) << g::describe(r);
  EXPECT_TRUE(passed(r, "ipi.ex.sparse_one_other.vcpu1.count")) << g::describe(r);
  EXPECT_TRUE(passed(r, "ipi.fast.absent_vps_only.vcpu1.count")) << g::describe(r);
}

// Three vCPUs on both sides of 64 (VPs 62, 63, 64): one set spans banks 0
// and 1.
TEST(IpiOnEmu, VpIndexesAcrossBanks) {
  const g::HostView v = run_yaml("conformance-ipi",
                                 "name: ipi-vpindex-base-62\n"
                                 "vcpus: 3\n"
                                 "enlightenments:\n"
                                 "  - vpindex: { base: 62 }\n"
                                 "  - ipi\n");
  const auto& r = v.result;
  g::expect_all_pass(r);
  EXPECT_EQ(metric_of(r, "vp_index", 2), 64u) << g::describe(r);
  EXPECT_TRUE(passed(r, "ipi.ex.high_banks.vcpu2.count")) << g::describe(r);
}

// The flush experiment with the readers named in bank 1.
TEST(TlbflushOnEmu, VpIndexBase64) {
  const g::HostView v = run_yaml("conformance-tlbflush",
                                 "name: tlbflush-vpindex-base-64\n"
                                 "vcpus: 2\n"
                                 "enlightenments:\n"
                                 "  - vpindex: { base: 64 }\n"
                                 "  - tlbflush\n");
  g::expect_all_pass(v.result);
  EXPECT_TRUE(passed(v.result, "flush.space_ex.sparse.vcpu1.sees_not_present")) << g::describe(v.result);
}

}  // namespace
