// check_descriptor without the file system: descriptors made in the test,
// for the defects that are awkward to build as a file.
#include <enlight/core/loader.hpp>

#include <gtest/gtest.h>

#include <string>

namespace enlight {
namespace {

const char* kManifest = R"(name: checked
version: 1.2.3
abi: 1
library: checked.so
claims:
  msrs:
    - range: [0x40000010, 0x40000011]
  hypercalls:
    - code: 0x0041
  io-ports:
    - port: 0x0510
)";

enlight_access_result read_msr(void*, uint32_t, uint64_t* v, enlight_origin) {
  *v = 0;
  return ENLIGHT_ACCESS_OK;
}
enlight_hypercall_result call(void*, const enlight_hypercall*) { return {0, 0}; }

struct Fixture {
  Manifest manifest = parse_manifest(kManifest, "/virtual/checked.yaml");
  enlight_msr_claim msrs[2] = {{0x40000010, 0x40000010, &read_msr, nullptr}, {0x40000011, 0x40000011, &read_msr, nullptr}};
  enlight_hypercall_claim hypercalls[1] = {{0x0041, 0, 0, 0, 0, 0, &call}};
  enlight_io_claim io[1] = {{0x0510, 0x0510, nullptr, nullptr}};
  enlight_plugin_descriptor d{};
  Fixture() {
    d.abi_major = ENLIGHT_ABI_MAJOR;
    d.size = sizeof d;
    d.name = "checked";
    d.version = "1.2.3";
    d.msrs = msrs;
    d.msr_count = 2;
    d.hypercalls = hypercalls;
    d.hypercall_count = 1;
    d.io_ports = io;
    d.io_port_count = 1;
  }
  LoadError::Kind kind_of(std::string* what = nullptr) {
    try {
      check_descriptor(manifest, &d, "/virtual/checked.so");
    } catch (const LoadError& e) {
      if (what) *what = e.what();
      return e.kind();
    }
    ADD_FAILURE() << "descriptor accepted";
    return LoadError::Kind::NotFound;
  }
};

TEST(CheckDescriptor, AcceptsAnExactMatch) {
  Fixture f;
  EXPECT_NO_THROW(check_descriptor(f.manifest, &f.d, "/virtual/checked.so"));
}

// The ABI major is read before anything else, so a descriptor of another
// major whose layout differs is never interpreted further.
TEST(CheckDescriptor, AbiIsCheckedBeforeAnyOtherField) {
  Fixture f;
  f.d.abi_major = 7;
  f.d.size = 0;
  f.d.name = nullptr;
  std::string what;
  EXPECT_EQ(f.kind_of(&what), LoadError::Kind::AbiMismatch);
  EXPECT_NE(what.find("ABI 7.0"), std::string::npos) << what;
}

TEST(CheckDescriptor, NullNameIsANameMismatch) {
  Fixture f;
  f.d.name = nullptr;
  std::string what;
  EXPECT_EQ(f.kind_of(&what), LoadError::Kind::NameMismatch);
  EXPECT_NE(what.find("(null)"), std::string::npos) << what;
}

TEST(CheckDescriptor, NullVersionIsAVersionMismatch) {
  Fixture f;
  f.d.version = nullptr;
  EXPECT_EQ(f.kind_of(), LoadError::Kind::VersionMismatch);
}

TEST(CheckDescriptor, MsrClaimWithoutHandlersIsMalformed) {
  Fixture f;
  f.msrs[1].read = nullptr;
  EXPECT_EQ(f.kind_of(), LoadError::Kind::Malformed);
}

TEST(CheckDescriptor, BackwardsMsrRangeIsMalformed) {
  Fixture f;
  f.msrs[0] = {0x40000011, 0x40000010, &read_msr, nullptr};
  EXPECT_EQ(f.kind_of(), LoadError::Kind::Malformed);
}

TEST(CheckDescriptor, HypercallWithoutHandlerIsMalformed) {
  Fixture f;
  f.hypercalls[0].handler = nullptr;
  EXPECT_EQ(f.kind_of(), LoadError::Kind::Malformed);
}

TEST(CheckDescriptor, HypercallCodeMismatchNamesBothSides) {
  Fixture f;
  f.hypercalls[0].code = 0x0042;
  std::string what;
  EXPECT_EQ(f.kind_of(&what), LoadError::Kind::ClaimMismatch);
  EXPECT_NE(what.find("hypercall codes"), std::string::npos) << what;
  EXPECT_NE(what.find("binary:   0x42"), std::string::npos) << what;
  EXPECT_NE(what.find("manifest: 0x41"), std::string::npos) << what;
}

TEST(CheckDescriptor, IoPortMismatch) {
  Fixture f;
  f.io[0] = {0x0510, 0x0511, nullptr, nullptr};
  std::string what;
  EXPECT_EQ(f.kind_of(&what), LoadError::Kind::ClaimMismatch);
  EXPECT_NE(what.find("I/O ports"), std::string::npos) << what;
}

// A binary that claims less than its manifest is refused too: the resolver
// reserved those MSRs for it, and nothing would answer them.
TEST(CheckDescriptor, ClaimingLessThanTheManifestIsAMismatch) {
  Fixture f;
  f.d.msr_count = 1;
  EXPECT_EQ(f.kind_of(), LoadError::Kind::ClaimMismatch);
}

// The manifest's `snapshot:` and the binary's save calls agree, or the
// plugin is refused (docs/snapshots.md, "Plugins").
int64_t save_nothing(void*, uint8_t*, uint64_t) { return 0; }
int load_nothing(void*, const uint8_t*, uint64_t, enlight_error*) { return 0; }

TEST(CheckDescriptor, SnapshotKeyMatchesTheSaveCalls) {
  Fixture saved;
  saved.manifest.snapshot = "saved";
  std::string what;
  EXPECT_EQ(saved.kind_of(&what), LoadError::Kind::ClaimMismatch);
  EXPECT_NE(what.find("'snapshot: saved' but the binary has no vm_save or vcpu_save"), std::string::npos) << what;
  saved.d.vcpu_save = &save_nothing;
  saved.d.vcpu_load = &load_nothing;
  EXPECT_NO_THROW(check_descriptor(saved.manifest, &saved.d, "/virtual/checked.so"));

  Fixture stateless;
  stateless.manifest.snapshot = "stateless";
  EXPECT_NO_THROW(check_descriptor(stateless.manifest, &stateless.d, "/virtual/checked.so"));
  stateless.d.vm_save = &save_nothing;
  stateless.d.vm_load = &load_nothing;
  EXPECT_EQ(stateless.kind_of(&what), LoadError::Kind::ClaimMismatch);
  EXPECT_NE(what.find("'snapshot: stateless' but the binary saves state"), std::string::npos) << what;

  Fixture half;
  half.d.vm_save = &save_nothing;  // a save without its load
  EXPECT_EQ(half.kind_of(&what), LoadError::Kind::Malformed);
  EXPECT_NE(what.find("a save call without its load call"), std::string::npos) << what;
}

}  // namespace
}  // namespace enlight
