// vpindex: HV_X64_MSR_VP_INDEX.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

TEST(VpindexCpuid, AdvertisesAccessVpIndex) {
  auto d = make_vm("hv-vpindex");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax, HV_ACCESS_VP_INDEX | HV_ACCESS_HYPERCALL_MSRS);
}

TEST(VpindexMsr, EachVcpuReadsItsNumber) {
  auto d = make_vm("hv-vpindex", 4);
  for (uint32_t v = 0; v < 4; ++v) {
    const MsrRead r = d->rdmsr(v, HV_X64_MSR_VP_INDEX);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value, v);
  }
}

TEST(VpindexMsr, GuestWriteIsGp) {
  auto d = make_vm("hv-vpindex", 2);
  EXPECT_EQ(d->wrmsr(1, HV_X64_MSR_VP_INDEX, 1), Access::GP);  // even its own value
  EXPECT_EQ(d->wrmsr(1, HV_X64_MSR_VP_INDEX, 7), Access::GP);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_INDEX).value, 1u);
}

TEST(VpindexMsr, HostWriteSetsOneVcpusIndex) {
  auto d = make_vm("hv-vpindex", 2);
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_VP_INDEX, 5), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_INDEX).value, 5u);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_INDEX).value, 1u);
  EXPECT_EQ(d->host_rdmsr(0, HV_X64_MSR_VP_INDEX).value, 5u);
}

TEST(VpindexMsr, HostCannotSetTheReservedIndices) {
  // HV_VP_INDEX_SELF and HV_ANY_VP mean "the caller" and "any" in hypercalls.
  auto d = make_vm("hv-vpindex");
  for (uint64_t v : {uint64_t{HV_VP_INDEX_SELF}, uint64_t{HV_ANY_VP}, uint64_t{1} << 32})
    EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_VP_INDEX, v), Access::GP) << hex(v);
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_VP_INDEX, HV_VP_INDEX_SELF - 1), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_INDEX).value, HV_VP_INDEX_SELF - 1);
}

// The core's table follows the MSR: what a hypercall handler is told
// (enlight_hypercall.vp_index) and what vcpu_of_vp_index answers.
TEST(VpindexCore, HostWriteMovesTheCoresVpIndex) {
  auto d = make_vm("hv-vpindex", 3);
  EXPECT_EQ(d->vm().vcpu(2).vp_index, 2u);
  ASSERT_EQ(d->host_wrmsr(2, HV_X64_MSR_VP_INDEX, 40), Access::Ok);
  EXPECT_EQ(d->vm().vcpu(2).vp_index, 40u);
  EXPECT_EQ(d->vm().vcpu(1).vp_index, 1u);
  // A refused write leaves it as it was.
  EXPECT_EQ(d->host_wrmsr(2, HV_X64_MSR_VP_INDEX, HV_VP_INDEX_SELF), Access::GP);
  EXPECT_EQ(d->vm().vcpu(2).vp_index, 40u);
}

// Option base: vCPU n reads base + n, and the core's table (what a
// hypercall handler is told, what vcpu_of_vp_index maps back) holds the
// same from creation on, before the guest has read anything.
std::unique_ptr<direct::DirectVm> make_vm_with_base(const std::string& base, uint32_t vcpus) {
  return make_vm_from_profile("name: t\nvcpus: " + std::to_string(vcpus) + "\nenlightenments:\n  - vpindex: { base: " +
                              base + " }\n");
}

std::string creation_error(const std::string& base, uint32_t vcpus) {
  try {
    make_vm_with_base(base, vcpus);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(VpindexBase, EachVcpuReadsBasePlusItsNumber) {
  auto d = make_vm_with_base("64", 3);
  for (uint32_t v = 0; v < 3; ++v) {
    EXPECT_EQ(d->vm().vcpu(v).vp_index, 64u + v) << "core table, vCPU " << v;
    const MsrRead r = d->rdmsr(v, HV_X64_MSR_VP_INDEX);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value, 64u + v);
  }
}

TEST(VpindexBase, ZeroIsTheVcpuNumber) {
  auto d = make_vm_with_base("0", 2);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_INDEX).value, 1u);
  EXPECT_EQ(d->vm().vcpu(1).vp_index, 1u);
}

TEST(VpindexBase, HighestIndexJustBelowSelfIsAccepted) {
  // 2 vCPUs: 0xFFFFFFFC and 0xFFFFFFFD; HV_VP_INDEX_SELF is 0xFFFFFFFE.
  auto d = make_vm_with_base("0xfffffffc", 2);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_INDEX).value, HV_VP_INDEX_SELF - 1);
  EXPECT_EQ(d->vm().vcpu(1).vp_index, HV_VP_INDEX_SELF - 1);
}

TEST(VpindexBase, IndexesReachingSelfAreRefusedWithTheFix) {
  // 0xFFFFFFFD passes the manifest's bound but, with 2 vCPUs, vCPU 1 would
  // be HV_VP_INDEX_SELF.
  const std::string e = creation_error("0xfffffffd", 2);
  EXPECT_NE(e.find("HV_VP_INDEX_SELF"), std::string::npos) << e;
  EXPECT_NE(e.find("fix: base <= 4294967292"), std::string::npos) << e;
  // Beyond the manifest's max the profile itself is refused.
  EXPECT_FALSE(creation_error("0xfffffffe", 1).empty());
  EXPECT_FALSE(creation_error("0x100000000", 1).empty());
}

TEST(VpindexBase, HostWriteStillMovesOneIndex) {
  auto d = make_vm_with_base("64", 2);
  ASSERT_EQ(d->host_wrmsr(1, HV_X64_MSR_VP_INDEX, 7), Access::Ok);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_INDEX).value, 7u);
  EXPECT_EQ(d->vm().vcpu(1).vp_index, 7u);
  EXPECT_EQ(d->vm().vcpu(0).vp_index, 64u);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_INDEX, 64), Access::GP);
}

TEST(VpindexMsr, WorksUnderEnforceCpuid) {
  auto d = make_vm("hv-vpindex,hv-enforce-cpuid", 2);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_INDEX).value, 1u);
  EXPECT_EQ(d->wrmsr(1, HV_X64_MSR_VP_INDEX, 1), Access::GP);
}

TEST(VpindexMsr, AbsentWithoutThePlugin) {
  auto d = make_vm("hv-relaxed");
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_VP_INDEX).gp());
}

}  // namespace
}  // namespace enlight::test
