// synic: the VP's SynIC state through save/load, with the echo connection
// holding a message across the restore: it lands once, on the restored
// guest's EOM or EOI, never twice and never lost.
#include "synic_test.hpp"

#include "../snapshot_test.hpp"

#include <gmock/gmock.h>

namespace enlight::test::synic {
namespace {

using ::testing::HasSubstr;
namespace snap = snapshot;

constexpr uint32_t kMsgType = 0x42;
constexpr size_t kSintOffset = 8 + 3 * 8;                   // after the header, SCONTROL, SIEFP, SIMP
constexpr size_t kHeldOffset = kSintOffset + 16 * 8 + 16;   // after the SINTs and the waiting flags
constexpr size_t kHeldBytes = kHeldOffset + 1 + 4;

// A: the echo's slot holds one message and a second one waits (held).
std::unique_ptr<DirectVm> with_held_message() {
  auto a = make_echo(1);
  EXPECT_EQ(enable_hypercalls(*a, kHypercallPage), Access::Ok);
  enable(*a, 0);
  set_sint(*a, 0, kEchoSint, sint_value(kVector));
  set_sint(*a, 0, 9, sint_value(0x70, true));
  write_post_input(*a, kEchoId, kMsgType, 8, 0x11);
  EXPECT_EQ(post(*a, 0), HV_STATUS_SUCCESS);
  write_post_input(*a, kEchoId, kMsgType, 24, 0x22);
  EXPECT_EQ(post(*a, 0), HV_STATUS_SUCCESS);  // held: the slot is full
  EXPECT_NE(slot_flags(*a, 0, kEchoSint) & HV_MESSAGE_FLAG_PENDING, 0);
  return a;
}

// B as the core restores it: RAM, then the plugins' state.
std::unique_ptr<DirectVm> restored(DirectVm& a) {
  auto b = make_echo(1);
  std::memcpy(b->memory().base(), a.memory().base(), 0x100000);
  EXPECT_EQ(snap::load(*b, "identity", snap::save(a, "identity")), "");
  EXPECT_EQ(snap::load(*b, "synic", snap::save(a, "synic")), "");
  return b;
}

TEST(SynicSnapshot, RegistersSurvive) {
  auto a = with_held_message();
  auto b = restored(*a);
  for (uint32_t msr : {HV_X64_MSR_SCONTROL, HV_X64_MSR_SIMP, HV_X64_MSR_SIEFP, HV_X64_MSR_SVERSION})
    EXPECT_EQ(b->rdmsr(0, msr).value, a->rdmsr(0, msr).value) << std::hex << msr;
  for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i)
    EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_SINT0 + i).value, a->rdmsr(0, HV_X64_MSR_SINT0 + i).value) << i;
  EXPECT_EQ(snap::record(*a, "synic").descriptor->vm_save, nullptr) << "per-VP state only";
}

TEST(SynicSnapshot, HeldMessageLandsOnceOnEom) {
  auto a = with_held_message();
  auto b = restored(*a);
  EXPECT_EQ(slot_payload_size(*b, 0, kEchoSint), 8u) << "RAM: the first message";
  ASSERT_TRUE(consume(*b, 0, kEchoSint)) << "MessagePending came with RAM";
  ASSERT_EQ(b->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
  EXPECT_EQ(slot_type(*b, 0, kEchoSint), kMsgType);
  EXPECT_EQ(slot_payload_size(*b, 0, kEchoSint), 24u) << "the held message";
  EXPECT_EQ(counter(*b, kPosted), 1);
  EXPECT_FALSE(consume(*b, 0, kEchoSint)) << "nothing else waits";
  ASSERT_EQ(b->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
  EXPECT_EQ(slot_type(*b, 0, kEchoSint), 0u) << "not delivered twice";
  EXPECT_EQ(counter(*b, kPosted), 1);
}

// The EOI watch for the SINT's vector is re-armed by the load, so the EOI
// path retries too (no SINT was written by a guest in B).
TEST(SynicSnapshot, HeldMessageLandsOnEoi) {
  auto a = with_held_message();
  auto b = restored(*a);
  EXPECT_EQ(signal(*b, 0, signal_rdx(kEchoId, 3)), HV_STATUS_SUCCESS);  // the SINT's vector, in B's APIC
  ASSERT_EQ(b->take_interrupt(0), std::optional<uint8_t>(kVector));
  consume(*b, 0, kEchoSint);
  guest_eoi(*b, 0);
  EXPECT_EQ(slot_payload_size(*b, 0, kEchoSint), 24u);
  EXPECT_EQ(slot_type(*b, 0, kEchoSint), kMsgType);
}

TEST(SynicSnapshot, HostileBlobs) {
  auto a = with_held_message();
  const std::vector<uint8_t> blob = snap::save(*a, "synic").vcpus.at(0);
  ASSERT_EQ(blob.size(), kHeldBytes + HV_MESSAGE_HEADER_SIZE + 24);
  auto b = make_echo(1);
  std::memcpy(b->memory().base(), a->memory().base(), 0x100000);
  snap::sweep(blob, [&](const std::vector<uint8_t>& x) { return snap::load_vcpu(*b, "synic", 0, x); },
              [&] {
                consume(*b, 0, kEchoSint);
                ASSERT_EQ(b->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
              });
  EXPECT_EQ(b->vm().stop_reason(), StopReason::None);

  const auto refused = [&](const std::vector<uint8_t>& x) { return snap::load_vcpu(*b, "synic", 0, x); };
  EXPECT_THAT(refused(snap::with_u64(blob, 8, HV_SYNIC_SCONTROL_ENABLE | 2)), HasSubstr("HV_X64_MSR_SCONTROL = 0x0000000000000003"));
  EXPECT_THAT(refused(snap::with_u64(blob, 16, 0x21000 | 0x10)), HasSubstr("HV_X64_MSR_SIEFP"));
  EXPECT_THAT(refused(snap::with_u64(blob, 24, 0x20000 | 0x801)), HasSubstr("HV_X64_MSR_SIMP = 0x0000000000020801: reserved"));
  EXPECT_THAT(refused(snap::with_u64(blob, kSintOffset + 5 * 8, 0x05)),
              HasSubstr("HV_X64_MSR_SINT5 = 0x0000000000000005: unmasked with a vector below 16"));
  EXPECT_EQ(refused(snap::with_u64(blob, kSintOffset + 5 * 8, 0x05 | HV_SYNIC_SINT_MASKED)), "") << "masked: allowed (KVM)";
  EXPECT_THAT(refused(snap::with_u64(blob, kSintOffset + 2 * 8, uint64_t{1} << 40)), HasSubstr("HV_X64_MSR_SINT2"));
  std::vector<uint8_t> bad = blob;
  bad[kHeldOffset + 1] = 0x2C;  // size 300
  bad[kHeldOffset + 2] = 0x01;
  EXPECT_THAT(refused(bad), HasSubstr("not 16 to 256 bytes"));
  bad = blob;
  bad[kHeldBytes + HV_MESSAGE_TYPE_OFFSET] = 0;  // type None
  EXPECT_THAT(refused(bad), HasSubstr("held message type"));
  bad = blob;
  bad[kHeldBytes + HV_MESSAGE_TYPE_OFFSET + 3] = 0x80;  // a hypervisor type
  EXPECT_THAT(refused(bad), HasSubstr("held message type"));
  bad = blob;
  bad[kHeldBytes + HV_MESSAGE_PAYLOAD_SIZE_OFFSET] = 25;
  EXPECT_THAT(refused(bad), HasSubstr("payload size"));
  bad = blob;
  bad[kHeldBytes + HV_MESSAGE_ORIGIN_OFFSET] ^= 1;
  EXPECT_THAT(refused(bad), HasSubstr("origin"));
  // A held echo message in a VM without the echo connection.
  auto plain = make_synic(1);
  EXPECT_THAT(snap::load_vcpu(*plain, "synic", 0, blob), HasSubstr("no echo connection"));
  EXPECT_EQ(plain->rdmsr(0, HV_X64_MSR_SIMP).value, 0u) << "a refused load changes nothing";
}

}  // namespace
}  // namespace enlight::test::synic
