// IcChannel against a guest that answers as Linux 6.1's hv_utils does
// (fake_guest.hpp), then against every kind of wrong answer.
#include "ic/channel.hpp"

#include <gtest/gtest.h>

#include "fake_guest.hpp"

#include <vector>

namespace enlight::vmbus_util {
namespace {

using test::FakeGuest;
using test::rd16;
using test::rd32;
using test::rd64;

constexpr uint16_t kInband = VM_PKT_DATA_INBAND;

FakeGuest linux_guest(Device d) {
  FakeGuest g;
  switch (d) {
    case Device::Heartbeat: g.messages = {{3, 0}, {1, 0}}; break;
    case Device::Shutdown: g.messages = {{3, 2}, {3, 1}, {3, 0}, {1, 0}}; break;
    case Device::Timesync: g.messages = {{4, 0}, {3, 0}, {1, 0}}; break;
  }
  return g;
}

Outcome deliver(IcChannel& ic, const FakeGuest& g, const Packet& request) {
  const auto b = g.answer(request);
  return ic.on_packet(kInband, request.transaction_id, b);
}

// Opens and negotiates with `g`; the channel is then ready.
void negotiate(IcChannel& ic, const FakeGuest& g) {
  const Packet p = ic.open();
  const Outcome o = deliver(ic, g, p);
  ASSERT_TRUE(o.ok()) << to_string(*o.error);
  ASSERT_EQ(o.event, Event::Negotiated);
  ASSERT_TRUE(ic.ready());
}

// Cuts an answer to `size` bytes with its pipe size and icmsgsize cut to
// match, so only the length rules can refuse it.
void refit(std::vector<uint8_t>& b, size_t size) {
  b.resize(size);
  if (size < 28) return;
  test::wr32(b, 4, static_cast<uint32_t>(size - 8));
  test::wr16(b, 18, static_cast<uint16_t>(size - 28));
}

void expect_error(const Outcome& o, IcError e) {
  EXPECT_FALSE(o.ok());
  EXPECT_EQ(o.event, Event::None);
  if (o.error) {
    EXPECT_EQ(*o.error, e) << to_string(*o.error) << " instead of " << to_string(e);
  }
}

// ---- Negotiation -----------------------------------------------------------

TEST(IcChannel, StartsClosedAndOffersNothing) {
  IcChannel ic(Device::Heartbeat);
  EXPECT_EQ(ic.state(), IcChannel::State::Closed);
  EXPECT_FALSE(ic.heartbeat());
  std::vector<uint8_t> any(68, 0);
  expect_error(ic.on_packet(kInband, 1, any), IcError::NotOpen);
}

TEST(IcChannel, OpenSendsNegotiateWithTheDeviceVersions) {
  IcChannel ic(Device::Timesync);
  const Packet p = ic.open();
  EXPECT_EQ(ic.state(), IcChannel::State::Negotiating);
  EXPECT_NE(p.transaction_id, 0u);
  const auto b = test::bytes_of(p);
  EXPECT_EQ(rd16(b, 12), ICMSGTYPE_NEGOTIATE);
  EXPECT_EQ(rd16(b, 28), 2u);
  EXPECT_EQ(rd16(b, 30), 3u);
  EXPECT_EQ(rd16(b, 44), 4u);  // first message version: 4.0
  EXPECT_EQ(ic.pending(), 1u);
}

TEST(IcChannel, LinuxPicksItsNewestForEachDevice) {
  const struct {
    Device device;
    Negotiated expect;
  } cases[] = {
      {Device::Heartbeat, {{3, 0}, {3, 0}}},
      {Device::Shutdown, {{3, 0}, {3, 2}}},
      {Device::Timesync, {{3, 0}, {4, 0}}},
  };
  for (const auto& c : cases) {
    IcChannel ic(c.device);
    negotiate(ic, linux_guest(c.device));
    EXPECT_EQ(ic.versions(), c.expect) << name(c.device);
    EXPECT_EQ(ic.pending(), 0u);
  }
}

TEST(IcChannel, OlderGuestsPickOlderVersions) {
  FakeGuest g = linux_guest(Device::Shutdown);
  g.frameworks = {{1, 0}};
  g.messages = {{3, 0}, {1, 0}};
  IcChannel ic(Device::Shutdown);
  negotiate(ic, g);
  EXPECT_EQ(ic.versions(), (Negotiated{{1, 0}, {3, 0}}));
}

TEST(IcChannel, NoCommonVersionFailsTheChannel) {
  FakeGuest g = linux_guest(Device::Heartbeat);
  g.messages = {{9, 9}};
  IcChannel ic(Device::Heartbeat);
  const Packet p = ic.open();
  expect_error(deliver(ic, g, p), IcError::NoCommonVersion);
  EXPECT_EQ(ic.state(), IcChannel::State::Failed);
  EXPECT_FALSE(ic.heartbeat());
}

TEST(IcChannel, MalformedNegotiateAnswersFailTheChannel) {
  struct Case {
    const char* what;
    void (*mutate)(std::vector<uint8_t>&);
    IcError error;
  };
  const Case cases[] = {
      {"no room for the picks", [](std::vector<uint8_t>& b) { refit(b, 43); }, IcError::TooShort},
      {"shorter than the request", [](std::vector<uint8_t>& b) { refit(b, 51); }, IcError::TooShort},
      {"counts 2/2", [](std::vector<uint8_t>& b) { test::wr16(b, 28, 2), test::wr16(b, 30, 2); }, IcError::BadCount},
      {"counts above offered", [](std::vector<uint8_t>& b) { test::wr16(b, 30, 100); }, IcError::BadCount},
      {"version not offered", [](std::vector<uint8_t>& b) { test::wr16(b, 42, 7); }, IcError::VersionNotOffered},
      {"flags still REQUEST", [](std::vector<uint8_t>& b) { b.at(25) = 1 | 2; }, IcError::BadFlags},
      {"flags RESPONSE only", [](std::vector<uint8_t>& b) { b.at(25) = 4; }, IcError::BadFlags},
      {"status E_FAIL", [](std::vector<uint8_t>& b) { test::wr32(b, 20, HV_E_FAIL); }, IcError::BadStatus},
      {"icmsgsize past the end", [](std::vector<uint8_t>& b) { test::wr16(b, 18, 0xFFFF); }, IcError::BadSize},
      {"pipe type", [](std::vector<uint8_t>& b) { test::wr32(b, 0, 0); }, IcError::BadPipeHeader},
  };
  for (const Case& c : cases) {
    IcChannel ic(Device::Heartbeat);
    const Packet p = ic.open();
    auto b = linux_guest(Device::Heartbeat).answer(p);
    c.mutate(b);
    const Outcome o = ic.on_packet(kInband, p.transaction_id, b);
    SCOPED_TRACE(c.what);
    expect_error(o, c.error);
    // A refusal found by the header check leaves the negotiation waiting;
    // any answer that got as far as the request gives up on it.
    EXPECT_FALSE(ic.ready());
  }
}

TEST(IcChannel, AnswerOfTheWrongTypeIsDropped) {
  IcChannel ic(Device::Heartbeat);
  const Packet p = ic.open();
  auto b = linux_guest(Device::Heartbeat).answer(p);
  test::wr16(b, 12, ICMSGTYPE_HEARTBEAT);
  expect_error(ic.on_packet(kInband, p.transaction_id, b), IcError::WrongType);
  EXPECT_FALSE(ic.ready());
  EXPECT_EQ(ic.pending(), 0u);
}

TEST(IcChannel, CompletionPacketIsNotAnAnswer) {
  IcChannel ic(Device::Heartbeat);
  const Packet p = ic.open();
  const auto b = linux_guest(Device::Heartbeat).answer(p);
  expect_error(ic.on_packet(VM_PKT_COMP, p.transaction_id, b), IcError::WrongPacketType);
  // The real answer still counts.
  EXPECT_EQ(ic.on_packet(kInband, p.transaction_id, b).event, Event::Negotiated);
}

TEST(IcChannel, UnknownTransactionIsDropped) {
  IcChannel ic(Device::Heartbeat);
  const Packet p = ic.open();
  const auto b = linux_guest(Device::Heartbeat).answer(p);
  expect_error(ic.on_packet(kInband, p.transaction_id + 1, b), IcError::UnknownTransaction);
  expect_error(ic.on_packet(kInband, 0, b), IcError::UnknownTransaction);
  EXPECT_EQ(ic.on_packet(kInband, p.transaction_id, b).event, Event::Negotiated);
  // Answered once: a replay matches nothing.
  expect_error(ic.on_packet(kInband, p.transaction_id, b), IcError::UnknownTransaction);
}

TEST(IcChannel, IcTransactionByteMustBeEchoed) {
  IcChannel ic(Device::Heartbeat);
  const Packet p = ic.open();
  auto b = linux_guest(Device::Heartbeat).answer(p);
  b.at(24) = 1;
  expect_error(ic.on_packet(kInband, p.transaction_id, b), IcError::UnknownTransaction);
}

TEST(IcChannel, AnswerBeforeNegotiationIsDropped) {
  // A heartbeat answer arriving while the negotiation is outstanding: no
  // heartbeat was sent, so nothing waits for it.
  IcChannel ic(Device::Heartbeat);
  const Packet neg = ic.open();
  Packet hb;
  hb.size = encode_heartbeat(hb.bytes, {{3, 0}, {3, 0}}, 5);
  hb.transaction_id = neg.transaction_id + 1;
  const FakeGuest g = linux_guest(Device::Heartbeat);
  expect_error(deliver(ic, g, hb), IcError::UnknownTransaction);
  EXPECT_EQ(ic.state(), IcChannel::State::Negotiating);
  EXPECT_EQ(deliver(ic, g, neg).event, Event::Negotiated);
}

TEST(IcChannel, AnswersFromBeforeAReopenAreDropped) {
  IcChannel ic(Device::Heartbeat);
  const FakeGuest g = linux_guest(Device::Heartbeat);
  negotiate(ic, g);
  const Packet hb = *ic.heartbeat();
  ic.close();
  EXPECT_EQ(ic.state(), IcChannel::State::Closed);
  expect_error(deliver(ic, g, hb), IcError::NotOpen);
  const Packet neg = ic.open();
  EXPECT_GT(neg.transaction_id, hb.transaction_id);
  expect_error(deliver(ic, g, hb), IcError::UnknownTransaction);
  EXPECT_EQ(deliver(ic, g, neg).event, Event::Negotiated);
}

// ---- Heartbeat -------------------------------------------------------------

TEST(IcChannel, HeartbeatSequenceCountsUp) {
  IcChannel ic(Device::Heartbeat);
  const FakeGuest g = linux_guest(Device::Heartbeat);
  negotiate(ic, g);
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    const Packet p = *ic.heartbeat();
    const auto b = test::bytes_of(p);
    EXPECT_EQ(rd16(b, 12), ICMSGTYPE_HEARTBEAT);
    EXPECT_EQ(rd16(b, 8), 3u);   // negotiated framework
    EXPECT_EQ(rd16(b, 14), 3u);  // negotiated message version
    EXPECT_EQ(rd64(b, 28), seq);
    const Outcome o = deliver(ic, g, p);
    EXPECT_TRUE(o.ok());
    EXPECT_EQ(o.event, Event::HeartbeatAnswered);
  }
  EXPECT_EQ(ic.pending(), 0u);
}

TEST(IcChannel, HeartbeatAnswersOutOfOrderStillMatch) {
  IcChannel ic(Device::Heartbeat);
  const FakeGuest g = linux_guest(Device::Heartbeat);
  negotiate(ic, g);
  const Packet a = *ic.heartbeat();
  const Packet b = *ic.heartbeat();
  EXPECT_EQ(deliver(ic, g, b).event, Event::HeartbeatAnswered);
  EXPECT_EQ(deliver(ic, g, a).event, Event::HeartbeatAnswered);
}

TEST(IcChannel, HeartbeatWrongSequenceIsAnError) {
  IcChannel ic(Device::Heartbeat);
  const FakeGuest g = linux_guest(Device::Heartbeat);
  negotiate(ic, g);
  // Echoed unchanged, stepped by 2, zero, all ones.
  for (int kind = 0; kind < 4; ++kind) {
    const Packet p = *ic.heartbeat();
    auto b = g.answer(p);
    const uint64_t sent = rd64(b, 28) - 1;
    const uint64_t bad[] = {sent, sent + 2, 0, UINT64_MAX};
    test::wr64(b, 28, bad[kind]);
    expect_error(ic.on_packet(kInband, p.transaction_id, b), IcError::WrongSequence);
  }
  // The channel stays usable.
  EXPECT_TRUE(ic.ready());
  EXPECT_EQ(deliver(ic, g, *ic.heartbeat()).event, Event::HeartbeatAnswered);
}

TEST(IcChannel, HeartbeatAnswerRefusals) {
  IcChannel ic(Device::Heartbeat);
  const FakeGuest g = linux_guest(Device::Heartbeat);
  negotiate(ic, g);
  {
    const Packet p = *ic.heartbeat();
    auto b = g.answer(p);
    refit(b, 36);  // Linux's own minimum, but shorter than what was sent
    expect_error(ic.on_packet(kInband, p.transaction_id, b), IcError::TooShort);
  }
  {
    const Packet p = *ic.heartbeat();
    auto b = g.answer(p);
    test::wr32(b, 20, HV_E_FAIL);  // what Linux writes for a type it does not know
    expect_error(ic.on_packet(kInband, p.transaction_id, b), IcError::BadStatus);
  }
  {
    const Packet p = *ic.heartbeat();
    auto b = g.answer(p);
    test::wr16(b, 12, ICMSGTYPE_TIMESYNC);
    expect_error(ic.on_packet(kInband, p.transaction_id, b), IcError::WrongType);
  }
}

TEST(IcChannel, SilentGuestCostsAFixedAmount) {
  IcChannel ic(Device::Heartbeat);
  const FakeGuest g = linux_guest(Device::Heartbeat);
  negotiate(ic, g);
  std::vector<Packet> sent;
  for (int i = 0; i < 10; ++i) sent.push_back(*ic.heartbeat());
  EXPECT_EQ(ic.pending(), IcChannel::kMaxPending);
  EXPECT_EQ(ic.abandoned(), 10u - IcChannel::kMaxPending);
  // The oldest were given up on; the newest still match.
  expect_error(deliver(ic, g, sent.front()), IcError::UnknownTransaction);
  EXPECT_EQ(deliver(ic, g, sent.back()).event, Event::HeartbeatAnswered);
}

TEST(IcChannel, RequestsOnlyForTheirOwnDevice) {
  IcChannel ic(Device::Heartbeat);
  negotiate(ic, linux_guest(Device::Heartbeat));
  EXPECT_FALSE(ic.shutdown("x"));
  EXPECT_FALSE(ic.timesync(1, 2));
}

// ---- Shutdown --------------------------------------------------------------

TEST(IcChannel, ShutdownAcceptedIsRecorded) {
  IcChannel ic(Device::Shutdown);
  const FakeGuest g = linux_guest(Device::Shutdown);
  negotiate(ic, g);
  EXPECT_FALSE(ic.shutdown_status());
  const Packet p = *ic.shutdown("host shutdown");
  const auto b = test::bytes_of(p);
  EXPECT_EQ(b.size(), 2088u);
  EXPECT_EQ(rd16(b, 12), ICMSGTYPE_SHUTDOWN);
  EXPECT_EQ(rd16(b, 14), 3u);
  EXPECT_EQ(rd16(b, 16), 2u);  // 3.2
  EXPECT_EQ(rd32(b, 28), 0x80000000u);  // SHTDN_REASON_FLAG_PLANNED
  EXPECT_EQ(rd32(b, 36), 0u);           // power off
  EXPECT_EQ(rd16(b, 40), 'h');
  const Outcome o = deliver(ic, g, p);
  EXPECT_TRUE(o.ok());
  EXPECT_EQ(o.event, Event::ShutdownAnswered);
  EXPECT_EQ(ic.shutdown_status(), HV_S_OK);
}

TEST(IcChannel, ShutdownRefusedIsRecorded) {
  IcChannel ic(Device::Shutdown);
  FakeGuest g = linux_guest(Device::Shutdown);
  g.shutdown_status = HV_E_FAIL;
  negotiate(ic, g);
  const Outcome o = deliver(ic, g, *ic.shutdown("x"));
  EXPECT_EQ(o.event, Event::ShutdownAnswered);
  EXPECT_EQ(ic.shutdown_status(), HV_E_FAIL);
}

TEST(IcChannel, ShutdownOtherStatusIsAnError) {
  IcChannel ic(Device::Shutdown);
  FakeGuest g = linux_guest(Device::Shutdown);
  g.shutdown_status = 0x80070032u;
  negotiate(ic, g);
  expect_error(deliver(ic, g, *ic.shutdown("x")), IcError::BadStatus);
  EXPECT_FALSE(ic.shutdown_status());
}

TEST(IcChannel, ShutdownAnswerCutShortIsDropped) {
  IcChannel ic(Device::Shutdown);
  const FakeGuest g = linux_guest(Device::Shutdown);
  negotiate(ic, g);
  const Packet p = *ic.shutdown("x");
  auto b = g.answer(p);
  refit(b, 64);
  expect_error(ic.on_packet(kInband, p.transaction_id, b), IcError::TooShort);
  EXPECT_FALSE(ic.shutdown_status());
}

TEST(IcChannel, ShutdownBeforeNegotiationIsNotSent) {
  IcChannel ic(Device::Shutdown);
  EXPECT_FALSE(ic.shutdown("x"));
  ic.open();
  EXPECT_FALSE(ic.shutdown("x"));
}

// ---- Time sync ---------------------------------------------------------------

TEST(IcChannel, TimesyncV4FirstSyncThenSamples) {
  IcChannel ic(Device::Timesync);
  const FakeGuest g = linux_guest(Device::Timesync);
  negotiate(ic, g);
  const uint8_t expect_flags[] = {ICTIMESYNCFLAG_SYNC, ICTIMESYNCFLAG_SAMPLE, ICTIMESYNCFLAG_SAMPLE};
  for (uint8_t flags : expect_flags) {
    const Packet p = *ic.timesync(0x01D9'0000'0000'0000ull, 777);
    const auto b = test::bytes_of(p);
    ASSERT_EQ(b.size(), 28u + 22u);
    EXPECT_EQ(rd16(b, 14), 4u);
    EXPECT_EQ(rd64(b, 28), 0x01D9'0000'0000'0000ull);
    EXPECT_EQ(rd64(b, 36), 777u);
    EXPECT_EQ(b.at(44), flags);
    const Outcome o = deliver(ic, g, p);
    EXPECT_TRUE(o.ok());
    EXPECT_EQ(o.event, Event::TimesyncAnswered);
  }
}

TEST(IcChannel, TimesyncV3Layout) {
  FakeGuest g = linux_guest(Device::Timesync);
  g.messages = {{3, 0}, {1, 0}};  // a guest before time sync 4.0
  IcChannel ic(Device::Timesync);
  negotiate(ic, g);
  EXPECT_EQ(ic.versions().message, (IcVersion{3, 0}));
  const Packet p = *ic.timesync(0x1234, 777);
  const auto b = test::bytes_of(p);
  ASSERT_EQ(b.size(), 28u + 25u);
  EXPECT_EQ(rd64(b, 28), 0x1234u);
  EXPECT_EQ(rd64(b, 36), 0u);  // childtime
  EXPECT_EQ(b.at(52), ICTIMESYNCFLAG_SYNC);
  EXPECT_EQ(deliver(ic, g, p).event, Event::TimesyncAnswered);
}

TEST(IcChannel, TimesyncSyncAgainAfterReopen) {
  IcChannel ic(Device::Timesync);
  const FakeGuest g = linux_guest(Device::Timesync);
  negotiate(ic, g);
  ic.timesync(1, 1);
  EXPECT_EQ(test::bytes_of(*ic.timesync(1, 1)).at(44), ICTIMESYNCFLAG_SAMPLE);
  ic.close();
  negotiate(ic, g);
  EXPECT_EQ(test::bytes_of(*ic.timesync(1, 1)).at(44), ICTIMESYNCFLAG_SYNC);
}

TEST(IcChannel, TimesyncUnsentSyncIsSentAgain) {
  IcChannel ic(Device::Timesync);
  negotiate(ic, linux_guest(Device::Timesync));
  const Packet first = *ic.timesync(1, 1);
  ic.cancel(first.transaction_id);
  EXPECT_EQ(ic.pending(), 0u);
  EXPECT_EQ(test::bytes_of(*ic.timesync(1, 1)).at(44), ICTIMESYNCFLAG_SYNC);
}

TEST(IcChannel, TimesyncAnswerWithFailureStatusIsAnError) {
  IcChannel ic(Device::Timesync);
  const FakeGuest g = linux_guest(Device::Timesync);
  negotiate(ic, g);
  const Packet p = *ic.timesync(1, 1);
  auto b = g.answer(p);
  test::wr32(b, 20, HV_E_FAIL);
  expect_error(ic.on_packet(kInband, p.transaction_id, b), IcError::BadStatus);
}

// ---- Robustness ----------------------------------------------------------------

TEST(IcChannel, EveryTruncationOfEveryAnswerIsRefusedSafely) {
  for (Device d : {Device::Heartbeat, Device::Shutdown, Device::Timesync}) {
    const FakeGuest g = linux_guest(d);
    auto request = [d](IcChannel& ic) {
      switch (d) {
        case Device::Heartbeat: return *ic.heartbeat();
        case Device::Shutdown: return *ic.shutdown("x");
        case Device::Timesync: break;
      }
      return *ic.timesync(1, 1);
    };
    IcChannel ic(d);
    negotiate(ic, g);
    for (size_t n = 0;; ++n) {
      const Packet p = request(ic);
      if (n >= p.size) break;
      auto cut = g.answer(p);
      refit(cut, n);
      const Outcome o = ic.on_packet(kInband, p.transaction_id, cut);
      EXPECT_FALSE(o.ok()) << name(d) << " cut to " << n;
      EXPECT_FALSE(ic.shutdown_status().has_value());
      ic.cancel(p.transaction_id);  // those refused before matching still wait
    }
  }
}

}  // namespace
}  // namespace enlight::vmbus_util
