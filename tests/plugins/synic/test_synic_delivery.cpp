// synic: the "synic" service as a producer sees it (through the synic-probe
// fixture): the message-slot protocol, slot-free notifications on EOM and
// EOI, masked SINTs, AutoEOI, event flags, registration rules, concurrency
// and pages the guest placed outside RAM.
#include "synic_test.hpp"

#include <random>
#include <thread>

namespace enlight::test::synic {
namespace {

constexpr uint32_t kType = 0x1234;

class SynicService : public ::testing::Test {
 protected:
  void start(uint32_t vcpus = 2, const std::string& synic_options = "", const std::string& probe_options = "") {
    d = make_probe(vcpus, synic_options, probe_options);
    p = probe();
    ASSERT_TRUE(p) << "synic-probe exports not found";
    ASSERT_NE(p.service_fn(), nullptr);
    svc = &p.svc();
  }
  enlight_synic_result post_msg(uint32_t vcpu, uint32_t sint, const Message& m) {
    return svc->post_message(svc->ctx, vcpu, sint, m.bytes, m.size);
  }
  enlight_synic_result signal_ev(uint32_t vcpu, uint32_t sint, uint32_t flag) {
    return svc->signal_event(svc->ctx, vcpu, sint, flag);
  }
  std::unique_ptr<DirectVm> d;
  Probe p;
  const enlight_synic_service* svc = nullptr;
};

TEST_F(SynicService, RegisteredDuringVmCreateOnly) {
  start(1, "", "port: 0x77");
  EXPECT_EQ(p.register_result(0), 0);   // on_slot_free
  EXPECT_EQ(p.register_result(1), 0);   // message port
  EXPECT_EQ(p.register_result(2), 0);   // event port
  EXPECT_EQ(p.register_result(3), -1);  // the same id again
  // After creation the tables are frozen (the exit path reads them unlocked).
  auto fn = [](void*, uint32_t, uint32_t) noexcept {};
  EXPECT_EQ(svc->on_slot_free(svc->ctx, fn, nullptr), -1);
  auto mfn = [](void*, uint32_t, uint32_t, const void*, uint32_t) noexcept -> uint16_t { return 0; };
  auto efn = [](void*, uint32_t, uint16_t) noexcept -> uint16_t { return 0; };
  EXPECT_EQ(svc->register_message_port(svc->ctx, 0x78, mfn, nullptr), -1);
  EXPECT_EQ(svc->register_event_port(svc->ctx, 0x78, efn, nullptr), -1);
}

TEST_F(SynicService, ConnectionIdsAre24BitsAndUnique) {
  start(1, "", "port: 0x1000000");
  EXPECT_EQ(p.register_result(1), -1);
  EXPECT_EQ(p.register_result(2), -1);
  // The echo connection owns its id like any other port owner.
  start(1, "echo-connection-id: " + std::to_string(kEchoId), "port: " + std::to_string(kEchoId));
  EXPECT_EQ(p.register_result(1), -1);
  EXPECT_EQ(p.register_result(2), -1);
}

TEST_F(SynicService, PostToAFreeSlotWritesTheMessageAndInterrupts) {
  start(2);
  enable(*d, 1);
  set_sint(*d, 1, 5, sint_value(kVector));
  const Message m(kType, 24, 0x3C);
  EXPECT_EQ(post_msg(1, 5, m), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_EQ(slot_type(*d, 1, 5), kType);
  EXPECT_EQ(slot_payload_size(*d, 1, 5), 24);
  EXPECT_EQ(slot_flags(*d, 1, 5), 0);
  EXPECT_EQ(std::memcmp(slot(*d, 1, 5), m.bytes, m.size), 0);
  EXPECT_EQ(slot_type(*d, 0, 5), 0u);  // only vCPU 1's page
  ASSERT_EQ(d->injected().size(), 1u);
  EXPECT_EQ(d->injected()[0], std::make_pair(1u, kVector));
  EXPECT_EQ(d->take_interrupt(1), kVector);
  EXPECT_TRUE(d->in_service(1, kVector));
  EXPECT_EQ(counter(*d, kPosted), 1);
}

TEST_F(SynicService, OnlyTheMessageBytesAreCopied) {
  // TLFS: the hypervisor may copy only the payload bytes of the message.
  start(1);
  enable(*d, 0);
  std::memset(slot(*d, 0, 1), 0xCC, HV_MESSAGE_SIZE);
  std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(slot(*d, 0, 1))).store(HvMessageTypeNone);
  EXPECT_EQ(post_msg(0, 1, Message(kType, 8)), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_EQ(slot(*d, 0, 1)[HV_MESSAGE_PAYLOAD_OFFSET + 7], 0xA5);
  EXPECT_EQ(slot(*d, 0, 1)[HV_MESSAGE_PAYLOAD_OFFSET + 8], 0xCC);
}

TEST_F(SynicService, BusySlotSetsMessagePendingAndEomFreesIt) {
  start(1);
  enable(*d, 0);
  set_sint(*d, 0, 2, sint_value(kVector));
  ASSERT_EQ(post_msg(0, 2, Message(kType, 4, 1)), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_EQ(post_msg(0, 2, Message(kType + 1, 4, 2)), ENLIGHT_SYNIC_BUSY);
  EXPECT_EQ(slot_type(*d, 0, 2), kType);  // the first message is untouched
  EXPECT_EQ(slot(*d, 0, 2)[HV_MESSAGE_PAYLOAD_OFFSET], 1);
  EXPECT_EQ(slot_flags(*d, 0, 2) & HV_MESSAGE_FLAG_PENDING, HV_MESSAGE_FLAG_PENDING);
  EXPECT_EQ(d->injected().size(), 1u);  // no interrupt for a refused message
  EXPECT_EQ(counter(*d, kBusy), 1);

  // The guest empties the slot, sees MessagePending and writes EOM: every
  // listener hears about every SINT of that vCPU (KVM's EOM rule).
  ASSERT_TRUE(consume(*d, 0, 2));
  for (uint32_t s = 0; s < HV_SYNIC_SINT_COUNT; ++s) EXPECT_EQ(p.slot_free(0, s), 0u);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
  for (uint32_t s = 0; s < HV_SYNIC_SINT_COUNT; ++s) EXPECT_EQ(p.slot_free(0, s), 1u) << s;
  EXPECT_EQ(counter(*d, kEoms), 1);

  // The producer posts again from its callback: a fresh header, no pending.
  EXPECT_EQ(post_msg(0, 2, Message(kType + 1, 4, 2)), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_EQ(slot_type(*d, 0, 2), kType + 1);
  EXPECT_EQ(slot_flags(*d, 0, 2) & HV_MESSAGE_FLAG_PENDING, 0);
  EXPECT_EQ(counter(*d, kPosted), 2);
}

TEST_F(SynicService, PendingSurvivesAnotherProducerTakingTheFreedSlot) {
  // Producer B was refused; the guest empties the slot but A posts before
  // anyone wrote EOM. A's message must still carry MessagePending, or the
  // guest, having perhaps read the flags after A overwrote them, would never
  // tell B the slot is free again.
  start(1);
  enable(*d, 0);
  ASSERT_EQ(post_msg(0, 7, Message(kType, 4)), ENLIGHT_SYNIC_DELIVERED);
  ASSERT_EQ(post_msg(0, 7, Message(kType, 4)), ENLIGHT_SYNIC_BUSY);  // B
  consume(*d, 0, 7);
  ASSERT_EQ(post_msg(0, 7, Message(kType + 2, 4)), ENLIGHT_SYNIC_DELIVERED);  // A
  EXPECT_EQ(slot_flags(*d, 0, 7) & HV_MESSAGE_FLAG_PENDING, HV_MESSAGE_FLAG_PENDING);
  EXPECT_TRUE(consume(*d, 0, 7));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
  EXPECT_EQ(p.slot_free(0, 7), 1u);
  // Once told, B is no longer waiting: the next message has no pending flag.
  ASSERT_EQ(post_msg(0, 7, Message(kType, 4)), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_EQ(slot_flags(*d, 0, 7) & HV_MESSAGE_FLAG_PENDING, 0);
}

TEST_F(SynicService, ProducerFlagsCannotForgePending) {
  start(1);
  enable(*d, 0);
  Message m(kType, 4);
  m.bytes[HV_MESSAGE_FLAGS_OFFSET] = 0xFF;
  ASSERT_EQ(post_msg(0, 0, m), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_EQ(slot_flags(*d, 0, 0), 0xFF & ~HV_MESSAGE_FLAG_PENDING);
}

TEST_F(SynicService, EoiOfTheSintVectorFreesTheSlotsUsingIt) {
  start(1);
  enable(*d, 0);
  set_sint(*d, 0, 1, sint_value(kVector));
  set_sint(*d, 0, 4, sint_value(kVector));           // shares the vector
  set_sint(*d, 0, 6, sint_value(kVector + 0x10));    // another vector
  set_sint(*d, 0, 8, sint_value(kVector, true));     // masked: no EOI from it
  ASSERT_EQ(post_msg(0, 1, Message(kType, 4)), ENLIGHT_SYNIC_DELIVERED);
  ASSERT_EQ(d->take_interrupt(0), kVector);
  guest_eoi(*d, 0);
  EXPECT_EQ(p.slot_free(0, 1), 1u);
  EXPECT_EQ(p.slot_free(0, 4), 1u);
  EXPECT_EQ(p.slot_free(0, 6), 0u);
  EXPECT_EQ(p.slot_free(0, 8), 0u);
  EXPECT_EQ(p.slot_free(0, 0), 0u);
  // Re-pointing SINT1 and SINT4 elsewhere stops the watch on kVector.
  set_sint(*d, 0, 1, sint_value(kVector + 0x20));
  set_sint(*d, 0, 4, sint_value(kVector, true));
  ASSERT_EQ(post_msg(0, 6, Message(kType, 4)), ENLIGHT_SYNIC_DELIVERED);
  ASSERT_EQ(d->take_interrupt(0), kVector + 0x10);
  guest_eoi(*d, 0);
  EXPECT_EQ(p.slot_free(0, 6), 1u);
  EXPECT_EQ(p.slot_free(0, 1), 1u);
  EXPECT_EQ(p.slot_free(0, 4), 1u);
}

TEST_F(SynicService, AutoEoiVectorIsNeverInService) {
  start(1);
  enable(*d, 0);
  set_sint(*d, 0, 3, sint_value(kVector, false, true));
  ASSERT_EQ(post_msg(0, 3, Message(kType, 4)), ENLIGHT_SYNIC_DELIVERED);
  ASSERT_EQ(d->take_interrupt(0), kVector);
  EXPECT_FALSE(d->in_service(0, kVector));
  // A lower vector is deliverable at once: nothing in service blocks it.
  set_sint(*d, 0, 9, sint_value(0x30));
  ASSERT_EQ(post_msg(0, 9, Message(kType, 4)), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_EQ(d->take_interrupt(0), 0x30);
  // AutoEOI vectors are not watched; an EOI of 0x30 frees SINT9 only.
  guest_eoi(*d, 0);
  EXPECT_EQ(p.slot_free(0, 9), 1u);
  EXPECT_EQ(p.slot_free(0, 3), 0u);
}

TEST_F(SynicService, MaskedSintIsPollingTheMessageStillLands) {
  start(1);
  enable(*d, 0);
  set_sint(*d, 0, 2, sint_value(kVector, true));
  EXPECT_EQ(post_msg(0, 2, Message(kType, 4)), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_EQ(slot_type(*d, 0, 2), kType);
  EXPECT_TRUE(d->injected().empty());
  EXPECT_EQ(d->take_interrupt(0), std::nullopt);
  // The reset value (masked, vector 0) too.
  EXPECT_EQ(post_msg(0, 11, Message(kType, 4)), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_TRUE(d->injected().empty());
  // A host-restored unmasked vector below 16 is never injected.
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_SINT12, 5), Access::Ok);
  EXPECT_EQ(post_msg(0, 12, Message(kType, 4)), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_TRUE(d->injected().empty());
}

TEST_F(SynicService, UnavailableWhenSynicOrPageIsOff) {
  start(1);
  const Message m(kType, 4);
  EXPECT_EQ(post_msg(0, 0, m), ENLIGHT_SYNIC_UNAVAILABLE);  // SIMP disabled at reset
  EXPECT_EQ(signal_ev(0, 0, 0), ENLIGHT_SYNIC_UNAVAILABLE);
  enable(*d, 0);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SCONTROL, 0), Access::Ok);
  EXPECT_EQ(post_msg(0, 0, m), ENLIGHT_SYNIC_UNAVAILABLE);
  EXPECT_EQ(signal_ev(0, 0, 0), ENLIGHT_SYNIC_UNAVAILABLE);
  EXPECT_EQ(slot_type(*d, 0, 0), 0u);
  EXPECT_FALSE(event_flag(*d, 0, 0, 0));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SCONTROL, HV_SYNIC_SCONTROL_ENABLE), Access::Ok);
  EXPECT_EQ(post_msg(0, 0, m), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_EQ(counter(*d, kPosted), 1);
  EXPECT_EQ(counter(*d, kBusy), 0);
}

TEST_F(SynicService, PagesOutsideRamAreNeverWritten) {
  start(1);
  enable(*d, 0);
  // The last page of RAM works; the next page, a page straddling the end
  // (impossible: bases are page-aligned) and a huge base do not.
  const uint64_t last = kRamBytes - HV_PAGE_SIZE;
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SIMP, last | HV_SYNIC_SIMP_ENABLE), Access::Ok);
  EXPECT_EQ(post_msg(0, HV_SYNIC_SINT_COUNT - 1, Message(kType, 240)), ENLIGHT_SYNIC_DELIVERED);
  uint32_t type = 0;
  ASSERT_TRUE(d->memory().read(last + (HV_SYNIC_SINT_COUNT - 1) * HV_MESSAGE_SIZE, &type, sizeof type));
  EXPECT_EQ(type, kType);
  for (uint64_t base : {kRamBytes, kRamBytes + HV_PAGE_SIZE, HV_SYNIC_PAGE_MASK, uint64_t{1} << 52}) {
    ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SIMP, base | HV_SYNIC_SIMP_ENABLE), Access::Ok);
    ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SIEFP, base | HV_SYNIC_SIEFP_ENABLE), Access::Ok);
    EXPECT_EQ(post_msg(0, 0, Message(kType, 4)), ENLIGHT_SYNIC_UNAVAILABLE) << hex(base);
    EXPECT_EQ(signal_ev(0, 0, 5), ENLIGHT_SYNIC_UNAVAILABLE) << hex(base);
    ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
  }
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST_F(SynicService, InvalidArgumentsFromAProducer) {
  start(2);
  enable(*d, 0);
  const Message ok(kType, 4);
  EXPECT_EQ(svc->post_message(svc->ctx, 2, 0, ok.bytes, ok.size), ENLIGHT_SYNIC_INVALID);       // no vCPU 2
  EXPECT_EQ(svc->post_message(svc->ctx, ~0u, 0, ok.bytes, ok.size), ENLIGHT_SYNIC_INVALID);
  EXPECT_EQ(svc->post_message(svc->ctx, 0, 16, ok.bytes, ok.size), ENLIGHT_SYNIC_INVALID);      // no SINT16
  EXPECT_EQ(svc->post_message(svc->ctx, 0, 0, nullptr, ok.size), ENLIGHT_SYNIC_INVALID);
  EXPECT_EQ(svc->post_message(svc->ctx, 0, 0, ok.bytes, HV_MESSAGE_HEADER_SIZE - 1), ENLIGHT_SYNIC_INVALID);
  EXPECT_EQ(svc->post_message(svc->ctx, 0, 0, ok.bytes, HV_MESSAGE_SIZE + 1), ENLIGHT_SYNIC_INVALID);
  EXPECT_EQ(svc->post_message(svc->ctx, 0, 0, ok.bytes, ok.size - 1), ENLIGHT_SYNIC_INVALID);  // payload beyond size
  EXPECT_EQ(post_msg(0, 0, Message(HvMessageTypeNone, 4)), ENLIGHT_SYNIC_INVALID);  // would read as empty
  Message big(kType, 0);
  big.bytes[HV_MESSAGE_PAYLOAD_SIZE_OFFSET] = HV_MESSAGE_PAYLOAD_BYTE_COUNT + 1;
  big.size = HV_MESSAGE_SIZE;
  EXPECT_EQ(post_msg(0, 0, big), ENLIGHT_SYNIC_INVALID);
  EXPECT_EQ(signal_ev(2, 0, 0), ENLIGHT_SYNIC_INVALID);
  EXPECT_EQ(signal_ev(0, 16, 0), ENLIGHT_SYNIC_INVALID);
  EXPECT_EQ(signal_ev(0, 0, HV_EVENT_FLAGS_COUNT), ENLIGHT_SYNIC_INVALID);
  EXPECT_EQ(slot_type(*d, 0, 0), 0u);
  EXPECT_TRUE(d->injected().empty());
  // A hypervisor message type is fine from a producer (timers use one).
  EXPECT_EQ(post_msg(0, 0, Message(HvMessageTimerExpired, HV_TIMER_MESSAGE_PAYLOAD_SIZE)), ENLIGHT_SYNIC_DELIVERED);
}

TEST_F(SynicService, SintValueIsWhatTheGuestWrote) {
  start(2);
  set_sint(*d, 1, 9, sint_value(0x99, false, true));
  EXPECT_EQ(svc->sint_value(svc->ctx, 1, 9), sint_value(0x99, false, true));
  EXPECT_EQ(svc->sint_value(svc->ctx, 0, 9), HV_SYNIC_SINT_RESET_VALUE);
  EXPECT_EQ(svc->sint_value(svc->ctx, 2, 0), HV_SYNIC_SINT_RESET_VALUE);   // no such vCPU: masked
  EXPECT_EQ(svc->sint_value(svc->ctx, 0, 16), HV_SYNIC_SINT_RESET_VALUE);  // no such SINT: masked
}

TEST_F(SynicService, EventFlags) {
  start(2);
  enable(*d, 1);
  set_sint(*d, 1, 4, sint_value(kVector));
  for (uint32_t flag : {0u, 7u, 8u, 63u, 64u, 1000u, HV_EVENT_FLAGS_COUNT - 1}) {
    d->clear_injected();
    EXPECT_EQ(signal_ev(1, 4, flag), ENLIGHT_SYNIC_DELIVERED) << flag;
    EXPECT_TRUE(event_flag(*d, 1, 4, flag)) << flag;
    EXPECT_EQ(d->injected().size(), 1u) << flag;  // the flag was clear
    EXPECT_EQ(signal_ev(1, 4, flag), ENLIGHT_SYNIC_DELIVERED) << flag;
    EXPECT_EQ(d->injected().size(), 1u) << flag;  // already set: no interrupt
  }
  // Neighbouring SINT blocks and the other vCPU are untouched.
  EXPECT_FALSE(event_flag(*d, 1, 3, HV_EVENT_FLAGS_COUNT - 1));
  EXPECT_FALSE(event_flag(*d, 1, 5, 0));
  EXPECT_FALSE(event_flag(*d, 0, 4, 0));
  EXPECT_EQ(counter(*d, kSignalled), 14);
  // Masked: the flag is set (polling), no interrupt.
  d->clear_injected();
  set_sint(*d, 1, 6, sint_value(kVector, true));
  EXPECT_EQ(signal_ev(1, 6, 3), ENLIGHT_SYNIC_DELIVERED);
  EXPECT_TRUE(event_flag(*d, 1, 6, 3));
  EXPECT_TRUE(d->injected().empty());
}

TEST_F(SynicService, EventFlagsAreAtomicAgainstTheGuest) {
  // The guest clears flags with locked operations while producers set
  // others: no update is lost.
  start(1);
  enable(*d, 0);
  auto* word = reinterpret_cast<uint64_t*>(d->memory().base() + sief_gpa(0));
  constexpr int kRounds = 20000;
  std::atomic<bool> stop{false};
  std::thread guest([&] {
    while (!stop.load()) std::atomic_ref<uint64_t>(*word).fetch_and(~uint64_t{1});  // flag 0 only
  });
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_EQ(signal_ev(0, 0, 1 + i % 63), ENLIGHT_SYNIC_DELIVERED);
  }
  stop.store(true);
  guest.join();
  EXPECT_EQ(std::atomic_ref<uint64_t>(*word).load() & ~uint64_t{1}, ~uint64_t{1});
}

TEST_F(SynicService, ConcurrentProducersNeverTearAMessage) {
  // Two producer threads post to one slot while the "guest" consumes: every
  // message arrives whole (type written last), none twice, none lost.
  start(1);
  enable(*d, 0);
  constexpr int kPerProducer = 3000;
  std::atomic<int> consumed{0};
  std::atomic<bool> torn{false};
  std::thread guest([&] {
    uint8_t* s = slot(*d, 0, 0);
    std::atomic_ref<uint32_t> type(*reinterpret_cast<uint32_t*>(s));
    while (consumed.load() < 2 * kPerProducer) {
      const uint32_t t = type.load(std::memory_order_acquire);
      if (t == HvMessageTypeNone) continue;
      const uint8_t fill = s[HV_MESSAGE_PAYLOAD_OFFSET];
      if (s[HV_MESSAGE_PAYLOAD_SIZE_OFFSET] != 64 || t != uint32_t{0x100} + fill) torn.store(true);
      for (int i = 0; i < 64; ++i)
        if (s[HV_MESSAGE_PAYLOAD_OFFSET + i] != fill) torn.store(true);
      type.store(HvMessageTypeNone, std::memory_order_seq_cst);
      consumed.fetch_add(1);
    }
  });
  auto producer = [&](uint8_t base) {
    for (int i = 0; i < kPerProducer; ++i) {
      const uint8_t fill = static_cast<uint8_t>(base + i % 100);
      const Message m(0x100 + fill, 64, fill);
      while (post_msg(0, 0, m) == ENLIGHT_SYNIC_BUSY) std::this_thread::yield();
    }
  };
  std::thread a(producer, 0), b(producer, 100);
  a.join();
  b.join();
  guest.join();
  EXPECT_FALSE(torn.load());
  EXPECT_EQ(consumed.load(), 2 * kPerProducer);
}

TEST_F(SynicService, GarbageFromAProducerNeverStopsTheVm) {
  start(2);
  enable(*d, 0);
  std::mt19937_64 rng(7);
  alignas(8) uint8_t buf[HV_MESSAGE_SIZE + 16];
  for (int i = 0; i < 20000; ++i) {
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    const auto vcpu = static_cast<uint32_t>(rng() % 4);
    const auto sint = static_cast<uint32_t>(rng() % 20);
    const auto size = static_cast<uint32_t>(rng() % (HV_MESSAGE_SIZE + 16));
    const enlight_synic_result r = svc->post_message(svc->ctx, vcpu, sint, buf, size);
    EXPECT_LE(static_cast<int>(r), static_cast<int>(ENLIGHT_SYNIC_INVALID));
    svc->signal_event(svc->ctx, vcpu, sint, static_cast<uint32_t>(rng() % 3000));
    if (i % 64 == 0) consume(*d, 0, static_cast<uint32_t>(rng() % HV_SYNIC_SINT_COUNT));
  }
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

}  // namespace
}  // namespace enlight::test::synic
