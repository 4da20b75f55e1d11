// synic: HvCallPostMessage and HvCallSignalEvent, every status they answer,
// the echo connection (a test device), ports owned by another plugin, and
// hostile input.
#include "synic_test.hpp"

#include <random>

namespace enlight::test::synic {
namespace {

constexpr uint32_t kType = 7;

class SynicHypercalls : public ::testing::Test {
 protected:
  void echo(uint32_t vcpus = 1) {
    d = make_echo(vcpus);
    ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
    for (uint32_t v = 0; v < vcpus; ++v) {
      enable(*d, v);
      set_sint(*d, v, kEchoSint, sint_value(kVector));
    }
  }
  std::unique_ptr<DirectVm> d;
};

// ---- HvCallPostMessage ------------------------------------------------------

TEST_F(SynicHypercalls, PostMessageEchoesToTheCallersSint) {
  echo(2);
  write_post_input(*d, kEchoId, kType, 24, 0x10);
  EXPECT_EQ(post(*d, 1), HV_STATUS_SUCCESS);
  EXPECT_EQ(slot_type(*d, 1, kEchoSint), kType);
  EXPECT_EQ(slot_payload_size(*d, 1, kEchoSint), 24);
  uint64_t origin = 0;
  std::memcpy(&origin, slot(*d, 1, kEchoSint) + HV_MESSAGE_ORIGIN_OFFSET, sizeof origin);
  EXPECT_EQ(origin, kEchoId);
  for (uint32_t i = 0; i < 24; ++i) EXPECT_EQ(slot(*d, 1, kEchoSint)[HV_MESSAGE_PAYLOAD_OFFSET + i], 0x10 + i);
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), 0u);
  ASSERT_EQ(d->injected().size(), 1u);
  EXPECT_EQ(d->injected()[0], std::make_pair(1u, kVector));
  EXPECT_EQ(counter(*d, kPosted), 1);
}

TEST_F(SynicHypercalls, PostMessagePayloadBounds) {
  echo();
  write_post_input(*d, kEchoId, kType, 0);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  consume(*d, 0, kEchoSint);
  write_post_input(*d, kEchoId, kType, HV_MESSAGE_PAYLOAD_BYTE_COUNT);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  EXPECT_EQ(slot_payload_size(*d, 0, kEchoSint), HV_MESSAGE_PAYLOAD_BYTE_COUNT);
  consume(*d, 0, kEchoSint);
  // TLFS: "The specified payload size exceeds 240 bytes" is INVALID_PARAMETER.
  for (uint32_t size : {HV_MESSAGE_PAYLOAD_BYTE_COUNT + 1, 256u, 0x10000u, ~0u}) {
    write_post_input(*d, kEchoId, kType, size);
    EXPECT_EQ(post(*d, 0), HV_STATUS_INVALID_PARAMETER) << size;
  }
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), 0u);
}

TEST_F(SynicHypercalls, PostMessageTypeRules) {
  echo();
  // TLFS: any type with bit 31 clear except zero.
  for (uint32_t type : {0u, HV_MESSAGE_TYPE_HYPERVISOR_MASK, HvMessageTimerExpired, ~0u}) {
    write_post_input(*d, kEchoId, type, 4);
    EXPECT_EQ(post(*d, 0), HV_STATUS_INVALID_PARAMETER) << hex(type);
  }
  write_post_input(*d, kEchoId, 0x7FFFFFFF, 4);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), 0x7FFFFFFFu);
}

TEST_F(SynicHypercalls, PostMessageReservedFields) {
  echo();
  write_post_input(*d, kEchoId | 0x01000000, kType, 4);  // ConnectionId 31:24
  EXPECT_EQ(post(*d, 0), HV_STATUS_INVALID_HYPERCALL_INPUT);
  write_post_input(*d, kEchoId, kType, 4, 0, 1);  // the RsvdZ dword
  EXPECT_EQ(post(*d, 0), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), 0u);
}

TEST_F(SynicHypercalls, PostMessageUnknownConnection) {
  echo();
  for (uint32_t id : {0u, kEchoId + 1, HV_CONNECTION_ID_MASK}) {
    write_post_input(*d, id, kType, 4);
    EXPECT_EQ(post(*d, 0), HV_STATUS_INVALID_CONNECTION_ID) << id;
  }
  // No echo configured: nothing is a connection.
  auto plain = make_synic();
  ASSERT_EQ(enable_hypercalls(*plain, kHypercallPage), Access::Ok);
  write_post_input(*plain, kEchoId, kType, 4);
  EXPECT_EQ(post(*plain, 0), HV_STATUS_INVALID_CONNECTION_ID);
}

TEST_F(SynicHypercalls, PostMessageBusySlotQueuesOneThenRunsOutOfBuffers) {
  echo();
  write_post_input(*d, kEchoId, kType, 4, 1);
  ASSERT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  write_post_input(*d, kEchoId, kType + 1, 4, 2);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);  // held: posted means queued
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), kType);
  EXPECT_TRUE(slot_flags(*d, 0, kEchoSint) & HV_MESSAGE_FLAG_PENDING);
  write_post_input(*d, kEchoId, kType + 2, 4, 3);
  EXPECT_EQ(post(*d, 0), HV_STATUS_INSUFFICIENT_BUFFERS);
  EXPECT_EQ(counter(*d, kBusy), 1);

  // The guest frees the slot and writes EOM: the held message lands.
  ASSERT_TRUE(consume(*d, 0, kEchoSint));
  d->clear_injected();
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), kType + 1);
  EXPECT_EQ(slot(*d, 0, kEchoSint)[HV_MESSAGE_PAYLOAD_OFFSET], 2);
  EXPECT_EQ(d->injected().size(), 1u);
  // The buffer is free again.
  write_post_input(*d, kEchoId, kType + 3, 4, 4);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  EXPECT_EQ(counter(*d, kPosted), 2);
}

TEST_F(SynicHypercalls, HeldEchoMessageLandsOnEoiToo) {
  echo();
  write_post_input(*d, kEchoId, kType, 4);
  ASSERT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  write_post_input(*d, kEchoId, kType + 1, 4);
  ASSERT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  ASSERT_EQ(d->take_interrupt(0), kVector);
  consume(*d, 0, kEchoSint);
  guest_eoi(*d, 0);  // no EOM: the EOI of the SINT's vector suffices (TLFS)
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), kType + 1);
  EXPECT_EQ(d->take_interrupt(0), kVector);
}

TEST_F(SynicHypercalls, PostMessageToADisabledSynic) {
  echo();
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SIMP, simp_gpa(0)), Access::Ok);  // SIM page off
  write_post_input(*d, kEchoId, kType, 4);
  EXPECT_EQ(post(*d, 0), HV_STATUS_INVALID_SYNIC_STATE);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SIMP, simp_gpa(0) | HV_SYNIC_SIMP_ENABLE), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SCONTROL, 0), Access::Ok);  // SynIC off
  EXPECT_EQ(post(*d, 0), HV_STATUS_INVALID_SYNIC_STATE);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SIMP, kRamBytes | HV_SYNIC_SIMP_ENABLE), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SCONTROL, HV_SYNIC_SCONTROL_ENABLE), Access::Ok);  // page beyond RAM
  EXPECT_EQ(post(*d, 0), HV_STATUS_INVALID_SYNIC_STATE);
  EXPECT_EQ(counter(*d, kPosted), 0);
}

TEST_F(SynicHypercalls, PostMessageToAMaskedSintLandsWithoutInterrupt) {
  echo();
  set_sint(*d, 0, kEchoSint, sint_value(kVector, true));
  write_post_input(*d, kEchoId, kType, 4);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), kType);
  EXPECT_TRUE(d->injected().empty());
}

TEST_F(SynicHypercalls, PostMessageShapeAndAddressErrors) {
  echo();
  write_post_input(*d, kEchoId, kType, 4);
  // Memory form only: the core refuses Fast (QEMU: INVALID_HYPERCALL_CODE,
  // see README), rep counts and variable headers.
  EXPECT_EQ(d->fast_hypercall(0, control(HvCallPostMessage, true), kInput, 0).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d->hypercall(0, control(HvCallPostMessage, false, 1), kInput, 0).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d->hypercall(0, control(HvCallPostMessage, false, 0, 0, 1), kInput, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(post(*d, 0, kInput + 4), HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(post(*d, 0, kInput + HV_PAGE_SIZE - 8), HV_STATUS_INVALID_ALIGNMENT);  // crosses a page
  EXPECT_EQ(post(*d, 0, kRamBytes), HV_STATUS_INVALID_HYPERCALL_INPUT);              // outside RAM
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), 0u);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
}

TEST_F(SynicHypercalls, UdBeforeTheHypercallPage) {
  d = make_echo();
  enable(*d, 0);
  write_post_input(*d, kEchoId, kType, 4);
  EXPECT_TRUE(d->hypercall(0, control(HvCallPostMessage), kInput, 0).ud());
  EXPECT_TRUE(d->fast_hypercall(0, control(HvCallSignalEvent, true), signal_rdx(kEchoId, 0), 0).ud());
}

TEST_F(SynicHypercalls, WorkUnderEnforceCpuid) {
  // PostMessages / SignalEvents are advertised, so the gates are open.
  d = make_vm_from_profile(profile(1, "echo-connection-id: " + std::to_string(kEchoId), "", false, true));
  ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
  enable(*d, 0);
  set_sint(*d, 0, kEchoSint, sint_value(kVector));
  write_post_input(*d, kEchoId, kType, 4);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, 1)), HV_STATUS_SUCCESS);
}

// ---- HvCallSignalEvent ------------------------------------------------------

TEST_F(SynicHypercalls, SignalEventSetsTheCallersFlag) {
  echo(2);
  EXPECT_EQ(signal(*d, 1, signal_rdx(kEchoId, 42)), HV_STATUS_SUCCESS);
  EXPECT_TRUE(event_flag(*d, 1, kEchoSint, 42));
  EXPECT_FALSE(event_flag(*d, 0, kEchoSint, 42));
  ASSERT_EQ(d->injected().size(), 1u);
  EXPECT_EQ(d->injected()[0], std::make_pair(1u, kVector));
  // Already set: success, no second interrupt (TLFS Event Flag Delivery).
  EXPECT_EQ(signal(*d, 1, signal_rdx(kEchoId, 42)), HV_STATUS_SUCCESS);
  EXPECT_EQ(d->injected().size(), 1u);
  EXPECT_EQ(counter(*d, kSignalled), 2);
}

TEST_F(SynicHypercalls, SignalEventMemoryForm) {
  echo();
  const uint64_t in = signal_rdx(kEchoId, 9);
  ASSERT_TRUE(d->memory().write(kInput, &in, sizeof in));
  EXPECT_EQ(d->hypercall(0, control(HvCallSignalEvent), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_TRUE(event_flag(*d, 0, kEchoSint, 9));
  EXPECT_EQ(d->hypercall(0, control(HvCallSignalEvent), kInput + 4, 0).status(), HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(d->hypercall(0, control(HvCallSignalEvent), kRamBytes, 0).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
}

TEST_F(SynicHypercalls, SignalEventFlagNumberBounds) {
  echo();
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, HV_EVENT_FLAGS_COUNT - 1)), HV_STATUS_SUCCESS);
  EXPECT_TRUE(event_flag(*d, 0, kEchoSint, HV_EVENT_FLAGS_COUNT - 1));
  // TLFS: a flag number at or above the port's flag count (2048 for the
  // echo port, the whole SIEF block) is INVALID_PARAMETER.
  for (uint16_t flag : {uint16_t{HV_EVENT_FLAGS_COUNT}, uint16_t{0x8000}, uint16_t{0xFFFF}})
    EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, flag)), HV_STATUS_INVALID_PARAMETER) << flag;
  EXPECT_FALSE(event_flag(*d, 0, kEchoSint + 1, 0));  // no spill-over into the next SINT's block
}

TEST_F(SynicHypercalls, SignalEventReservedBitsAndUnknownConnection) {
  echo();
  // KVM/QEMU: ConnectionId 31:24 or bits 63:48 set is INVALID_HYPERCALL_INPUT.
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, 0) | (uint64_t{1} << 24)), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, 0) | (uint64_t{1} << 48)), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, 0) | (uint64_t{1} << 63)), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId + 1, 0)), HV_STATUS_INVALID_CONNECTION_ID);
  EXPECT_EQ(signal(*d, 0, signal_rdx(0, 0)), HV_STATUS_INVALID_CONNECTION_ID);
  // R8 carries nothing for this call: ignored.
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, 0), ~uint64_t{0}), HV_STATUS_SUCCESS);
  EXPECT_EQ(counter(*d, kSignalled), 1);
}

TEST_F(SynicHypercalls, SignalEventToAMaskedSintOrDisabledPage) {
  echo();
  // TLFS: "If the SINTx is masked, HvSignalEvent returns
  // HV_STATUS_INVALID_SYNIC_STATE".
  set_sint(*d, 0, kEchoSint, sint_value(kVector, true));
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, 3)), HV_STATUS_INVALID_SYNIC_STATE);
  EXPECT_FALSE(event_flag(*d, 0, kEchoSint, 3));
  set_sint(*d, 0, kEchoSint, sint_value(kVector));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SIEFP, sief_gpa(0)), Access::Ok);
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, 3)), HV_STATUS_INVALID_SYNIC_STATE);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SIEFP, sief_gpa(0) | HV_SYNIC_SIEFP_ENABLE), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SCONTROL, 0), Access::Ok);
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, 3)), HV_STATUS_INVALID_SYNIC_STATE);
  EXPECT_FALSE(event_flag(*d, 0, kEchoSint, 3));
  EXPECT_TRUE(d->injected().empty());
}

TEST_F(SynicHypercalls, SignalEventShape) {
  echo();
  EXPECT_EQ(d->fast_hypercall(0, control(HvCallSignalEvent, true, 1), signal_rdx(kEchoId, 0), 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d->fast_hypercall(0, control(HvCallSignalEvent, true, 0, 0, 1), signal_rdx(kEchoId, 0), 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
}

TEST(SynicEcho, OptionsAreBounded) {
  EXPECT_THROW(make_vm_from_profile(profile(1, "echo-connection-id: 0x1000000")), ConfigError);
  EXPECT_THROW(make_vm_from_profile(profile(1, "echo-connection-id: 1, echo-sint: 16")), ConfigError);
}

TEST(SynicEcho, OtherEchoSint) {
  auto d = make_echo(1, 0);
  ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
  enable(*d, 0);
  write_post_input(*d, kEchoId, kType, 4);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  EXPECT_EQ(slot_type(*d, 0, 0), kType);
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), 0u);
}

// ---- Ports owned by another plugin (the probe fixture) ---------------------

TEST(SynicPorts, ThePortSeesTheCallAndItsStatusReachesTheGuest) {
  auto d = make_probe(2, "", "port: 0x99, status: " + std::to_string(HV_STATUS_INSUFFICIENT_BUFFERS));
  const Probe p = probe();
  ASSERT_TRUE(p);
  ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
  write_post_input(*d, 0x99, kType, 17, 0x40);
  EXPECT_EQ(post(*d, 1), HV_STATUS_INSUFFICIENT_BUFFERS);
  uint32_t vp = 0, type = 0, size = 0;
  uint8_t payload[HV_MESSAGE_PAYLOAD_BYTE_COUNT] = {};
  ASSERT_EQ(p.port_call(0, &vp, &type, &size, payload), 1u);
  EXPECT_EQ(vp, 1u);  // the calling vCPU
  EXPECT_EQ(type, kType);
  EXPECT_EQ(size, 17u);
  EXPECT_EQ(payload[0], 0x40);
  EXPECT_EQ(payload[16], 0x50);
  EXPECT_EQ(signal(*d, 0, signal_rdx(0x99, 0x1234)), HV_STATUS_INSUFFICIENT_BUFFERS);
  uint32_t flag = 0;
  ASSERT_EQ(p.port_call(1, &vp, &flag, nullptr, nullptr), 1u);
  EXPECT_EQ(vp, 0u);
  EXPECT_EQ(flag, 0x1234u);  // the port owns its flag range
  // Validation happens before the port: a bad call never reaches it.
  write_post_input(*d, 0x99, 0, 17);
  EXPECT_EQ(post(*d, 0), HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(p.port_call(0, nullptr, nullptr, nullptr, nullptr), 1u);
}

// A port hears the caller's VP index, which the host may have set to
// something other than its vCPU number (HV_X64_MSR_VP_INDEX, host write):
// Linux names VPs by what it read there (issue 10, item 4).
TEST(SynicPorts, ThePortSeesTheVpIndexNotTheVcpuNumber) {
  auto d = make_probe(2, "", "port: 0x99, status: 0");
  const Probe p = probe();
  ASSERT_TRUE(p);
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_VP_INDEX, 7), Access::Ok);
  ASSERT_EQ(d->host_wrmsr(1, HV_X64_MSR_VP_INDEX, 3), Access::Ok);
  ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
  write_post_input(*d, 0x99, kType, 4);
  EXPECT_EQ(post(*d, 1), HV_STATUS_SUCCESS);
  uint32_t vp = 0, type = 0, size = 0;
  ASSERT_EQ(p.port_call(0, &vp, &type, &size, nullptr), 1u);
  EXPECT_EQ(vp, 3u);
  EXPECT_EQ(signal(*d, 0, signal_rdx(0x99, 1)), HV_STATUS_SUCCESS);
  uint32_t flag = 0;
  ASSERT_EQ(p.port_call(1, &vp, &flag, nullptr, nullptr), 1u);
  EXPECT_EQ(vp, 7u);
}

TEST(SynicEcho, AnswersTheCallersVcpuWhateverItsVpIndex) {
  auto d = make_echo(2);
  // vCPU 0 is VP 1 and vCPU 1 is VP 0: swapped, as another VMM might
  // number them. The echo must still answer on the caller's own vCPU.
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_VP_INDEX, 1), Access::Ok);
  ASSERT_EQ(d->host_wrmsr(1, HV_X64_MSR_VP_INDEX, 0), Access::Ok);
  ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
  for (uint32_t v = 0; v < 2; ++v) {
    enable(*d, v);
    set_sint(*d, v, kEchoSint, sint_value(kVector));
  }
  write_post_input(*d, kEchoId, kType, 8);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
  EXPECT_EQ(slot_type(*d, 0, kEchoSint), kType);
  EXPECT_EQ(slot_type(*d, 1, kEchoSint), 0u);
}

// ---- Hostile guest ----------------------------------------------------------

TEST(SynicGarbage, RandomMsrsAndHypercallsNeverStopTheVmOrWriteOutsideItsPages) {
  auto d = make_echo(2);
  ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
  std::mt19937_64 rng(20240607);
  // A sentinel just past the RAM the tests use for SynIC pages.
  const uint64_t sentinel = 0x80000;
  std::vector<uint8_t> pattern(HV_PAGE_SIZE, 0x6B);
  ASSERT_TRUE(d->memory().write(sentinel, pattern.data(), pattern.size()));
  auto pick_gpa = [&] {
    switch (rng() % 5) {
      case 0: return simp_gpa(static_cast<uint32_t>(rng() % 2));
      case 1: return kRamBytes - HV_PAGE_SIZE;
      case 2: return kRamBytes + (rng() % 16) * HV_PAGE_SIZE;
      case 3: return rng() & HV_SYNIC_PAGE_MASK;
      default: return sief_gpa(static_cast<uint32_t>(rng() % 2));
    }
  };
  for (int i = 0; i < 20000; ++i) {
    const auto vcpu = static_cast<uint32_t>(rng() % 2);
    switch (rng() % 6) {
      case 0: {
        const uint32_t msr = HV_X64_MSR_SCONTROL + static_cast<uint32_t>(rng() % 0x20);
        const uint64_t value = (rng() % 2) ? rng() : (pick_gpa() | (rng() & 1));
        (void)d->wrmsr(vcpu, msr, value);
        break;
      }
      case 1: {
        uint8_t in[HV_POST_MESSAGE_INPUT_SIZE];
        for (auto& b : in) b = static_cast<uint8_t>(rng());
        if (rng() % 2) std::memcpy(in, &kEchoId, sizeof kEchoId);
        if (rng() % 2) std::memset(in + 4, 0, 4), in[15] = 0, in[14] = 0, in[13] = 0;
        ASSERT_TRUE(d->memory().write(kInput, in, sizeof in));
        (void)post(*d, vcpu);
        break;
      }
      case 2: {
        uint64_t rdx = rng();
        if (rng() % 2) rdx = signal_rdx(kEchoId, static_cast<uint16_t>(rng()));
        (void)signal(*d, vcpu, rdx, rng());
        break;
      }
      case 3: (void)d->wrmsr(vcpu, HV_X64_MSR_EOM, rng()); break;
      case 4: (void)d->hypercall(vcpu, rng() & ~HV_HYPERCALL_RSVD_MASK, rng(), rng()); break;
      default:
        if (auto v = d->take_interrupt(vcpu)) guest_eoi(*d, vcpu);
        break;
    }
  }
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
  std::vector<uint8_t> after(HV_PAGE_SIZE);
  ASSERT_TRUE(d->memory().read(sentinel, after.data(), after.size()));
  EXPECT_EQ(after, pattern);
}

}  // namespace
}  // namespace enlight::test::synic
