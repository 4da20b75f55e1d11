// The IC wire format: requests checked byte by byte at Linux's offsets
// (include/linux/hyperv.h), written as literal numbers so the tlfs.h names
// are checked too; answers parsed from hand-made bytes, every refusal by
// its error.
#include "ic/wire.hpp"

#include <gtest/gtest.h>

#include "fake_guest.hpp"
#include "ic/devices.hpp"

#include <chrono>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace enlight::vmbus_util {
namespace {

using test::rd16;
using test::rd32;
using test::rd64;
using test::wr16;
using test::wr32;

constexpr Negotiated kV3{{3, 0}, {3, 0}};
constexpr Negotiated kV4{{3, 0}, {4, 0}};

std::vector<uint8_t> encode(uint32_t (*fn)(std::span<uint8_t, kMaxRequestSize>, const Negotiated&, uint64_t),
                            const Negotiated& v, uint64_t arg) {
  Packet p;
  p.size = fn(p.bytes, v, arg);
  return test::bytes_of(p);
}

// Parses from a buffer of exactly the answer's size, so a read past the end
// is a heap overflow a sanitizer build reports.
template <typename F>
auto exact(const std::vector<uint8_t>& b, F&& parse) {
  auto copy = std::make_unique<uint8_t[]>(b.size());
  if (!b.empty()) std::memcpy(copy.get(), b.data(), b.size());
  return parse(std::span<const uint8_t>(copy.get(), b.size()));
}

// A well-formed answer header around a body of `body` bytes.
std::vector<uint8_t> answer(uint16_t type, uint32_t body) {
  std::vector<uint8_t> b(28 + body, 0);
  wr32(b, 0, 1);
  wr32(b, 4, 20 + body);
  wr16(b, 12, type);
  wr16(b, 18, static_cast<uint16_t>(body));
  b.at(25) = 5;
  return b;
}

TEST(IcWire, ConstantsMatchLinuxStructs) {
  EXPECT_EQ(ICMSG_HDR, 28u);
  EXPECT_EQ(ICMSG_HDR_STRUCT_SIZE + VMBUSPIPE_HDR_SIZE, ICMSG_HDR);
  EXPECT_EQ(HEARTBEAT_MSG_DATA_SIZE, 8u + 4u * 8u);
  EXPECT_EQ(SHUTDOWN_MSG_DATA_SIZE, 12u + SHUTDOWN_MSG_DISPLAY_MESSAGE_SIZE);
  EXPECT_EQ(ICTIMESYNC_DATA_SIZE, 3u * 8u + 1u);
  EXPECT_EQ(ICTIMESYNC_REF_DATA_SIZE, 2u * 8u + 3u + 3u);
  EXPECT_EQ(kMaxRequestSize, 2088u);
  EXPECT_LT(kMaxRequestSize + VMBUS_PACKET_DESCRIPTOR_SIZE + VMBUS_PACKET_TRAILER_SIZE, 4096u);
  EXPECT_EQ(kMaxResponseSize, 2088u);
  EXPECT_EQ(IcVersion::from_packed(IC_SD_VERSION_3_2), (IcVersion{3, 2}));
  EXPECT_EQ(HV_E_FAIL, 0x80004005u);
  EXPECT_EQ(WLTIMEDELTA, 116444736000000000ull);
}

TEST(IcWire, NegotiateRequestLayout) {
  Packet p;
  p.size = encode_negotiate(p.bytes, kFrameworkVersions, kShutdownVersions);
  const auto b = test::bytes_of(p);
  ASSERT_EQ(b.size(), 28u + 8u + 6u * 4u);
  EXPECT_EQ(rd32(b, 0), 1u);              // pipe: data
  EXPECT_EQ(rd32(b, 4), 20u + 8u + 24u);  // pipe: bytes after it
  EXPECT_EQ(rd16(b, 8), 0u);              // icverframe: none yet
  EXPECT_EQ(rd16(b, 12), 0u);             // NEGOTIATE
  EXPECT_EQ(rd16(b, 18), 8u + 24u);       // icmsgsize
  EXPECT_EQ(rd32(b, 20), 0u);             // S_OK
  EXPECT_EQ(b.at(24), 0u);                // ictransaction_id
  EXPECT_EQ(b.at(25), 1u | 2u);           // TRANSACTION | REQUEST
  EXPECT_EQ(rd16(b, 28), 2u);
  EXPECT_EQ(rd16(b, 30), 4u);
  EXPECT_EQ(rd32(b, 32), 0u);
  const uint16_t expect[][2] = {{3, 0}, {1, 0}, {3, 2}, {3, 1}, {3, 0}, {1, 0}};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(rd16(b, 36 + 4 * i), expect[i][0]) << i;
    EXPECT_EQ(rd16(b, 38 + 4 * i), expect[i][1]) << i;
  }
}

TEST(IcWire, HeartbeatRequestLayout) {
  const auto b = encode(&encode_heartbeat, kV3, 0x1122334455667788ull);
  ASSERT_EQ(b.size(), 68u);
  EXPECT_EQ(rd32(b, 4), 60u);
  EXPECT_EQ(rd16(b, 8), 3u);
  EXPECT_EQ(rd16(b, 10), 0u);
  EXPECT_EQ(rd16(b, 12), 1u);
  EXPECT_EQ(rd16(b, 14), 3u);
  EXPECT_EQ(rd16(b, 18), 40u);
  EXPECT_EQ(rd64(b, 28), 0x1122334455667788ull);
  for (size_t i = 36; i < 68; ++i) EXPECT_EQ(b.at(i), 0u) << i;
}

TEST(IcWire, ShutdownRequestLayout) {
  Packet p;
  p.size = encode_shutdown(p.bytes, kV3, 0, 0x80000000u, 7, "bye");
  const auto b = test::bytes_of(p);
  ASSERT_EQ(b.size(), 28u + 2060u);
  EXPECT_EQ(rd16(b, 12), 3u);
  EXPECT_EQ(rd16(b, 18), 2060u);
  EXPECT_EQ(rd32(b, 28), 0x80000000u);
  EXPECT_EQ(rd32(b, 32), 7u);
  EXPECT_EQ(rd32(b, 36), 0u);
  // UTF-16LE, NUL-terminated.
  EXPECT_EQ(rd16(b, 40), 'b');
  EXPECT_EQ(rd16(b, 42), 'y');
  EXPECT_EQ(rd16(b, 44), 'e');
  EXPECT_EQ(rd16(b, 46), 0u);
}

TEST(IcWire, ShutdownMessageIsCutToKeepItsTerminator) {
  Packet p;
  p.size = encode_shutdown(p.bytes, kV3, 0, 0, 0, std::string(5000, 'x'));
  const auto b = test::bytes_of(p);
  ASSERT_EQ(b.size(), 2088u);
  EXPECT_EQ(rd16(b, 40 + 2 * 1022), 'x');
  EXPECT_EQ(rd16(b, 40 + 2 * 1023), 0u);
}

TEST(IcWire, TimesyncV4UsesRefData) {
  Packet p;
  p.size = encode_timesync(p.bytes, kV4, 0xAAAA'BBBB'CCCC'DDDDull, 0x1234, 2);
  const auto b = test::bytes_of(p);
  ASSERT_EQ(b.size(), 28u + 22u);
  EXPECT_EQ(rd16(b, 12), 4u);
  EXPECT_EQ(rd16(b, 14), 4u);
  EXPECT_EQ(rd16(b, 18), 22u);
  EXPECT_EQ(rd64(b, 28), 0xAAAA'BBBB'CCCC'DDDDull);
  EXPECT_EQ(rd64(b, 36), 0x1234u);
  EXPECT_EQ(b.at(44), 2u);
  EXPECT_EQ(b.at(45), 0u);  // leapflags
  EXPECT_EQ(b.at(46), 0u);  // stratum
}

TEST(IcWire, TimesyncV3UsesData) {
  for (IcVersion msg : {IcVersion{3, 0}, IcVersion{1, 0}}) {
    Packet p;
    p.size = encode_timesync(p.bytes, {{3, 0}, msg}, 0x55, 0x1234, 1);
    const auto b = test::bytes_of(p);
    ASSERT_EQ(b.size(), 28u + 25u);
    EXPECT_EQ(rd16(b, 18), 25u);
    EXPECT_EQ(rd64(b, 28), 0x55u);
    EXPECT_EQ(rd64(b, 36), 0u);  // childtime: not the reference time
    EXPECT_EQ(rd64(b, 44), 0u);
    EXPECT_EQ(b.at(52), 1u);
  }
}

TEST(IcWire, FiletimeCountsFrom1601) {
  using std::chrono::system_clock;
  EXPECT_EQ(filetime(system_clock::time_point{}), 116444736000000000ull);
  // 2000-01-01T00:00:00Z: 946684800 s after 1970.
  EXPECT_EQ(filetime(system_clock::time_point{std::chrono::seconds(946684800)}),
            116444736000000000ull + 9466848000000000ull);
  // Before 1970 still counts from 1601.
  EXPECT_EQ(filetime(system_clock::time_point{std::chrono::seconds(-1)}), 116444736000000000ull - 10'000'000ull);
}

TEST(IcWire, HeaderAcceptsWhatLinuxSends) {
  auto b = answer(1, 40);
  wr32(b, 20, 0x80004005u);
  b.at(24) = 9;
  const auto r = exact(b, parse_response_header);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r.value->type, 1u);
  EXPECT_EQ(r.value->body_size, 40u);
  EXPECT_EQ(r.value->status, 0x80004005u);
  EXPECT_EQ(r.value->transaction, 9u);
}

TEST(IcWire, HeaderRefusals) {
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    IcError error;
  };
  std::vector<Case> cases;
  cases.push_back({"empty", {}, IcError::TooShort});
  {
    auto b = answer(1, 0);
    b.pop_back();
    cases.push_back({"27 bytes", b, IcError::TooShort});
  }
  {
    auto b = answer(3, 2060);
    b.resize(2096);
    cases.push_back({"longer than any answer", b, IcError::TooLong});
  }
  {
    auto b = answer(1, 40);
    wr32(b, 0, 2);
    cases.push_back({"pipe type partial", b, IcError::BadPipeHeader});
  }
  {
    auto b = answer(1, 40);
    wr32(b, 4, 61);
    cases.push_back({"pipe size past the end", b, IcError::BadPipeHeader});
  }
  {
    auto b = answer(1, 40);
    wr32(b, 4, 19);
    cases.push_back({"pipe size without the IC header", b, IcError::BadPipeHeader});
  }
  for (uint8_t flags : {0, 1, 2, 3, 4, 6, 7, 5 | 8, 5 | 0x80}) {
    auto b = answer(1, 40);
    b.at(25) = flags;
    cases.push_back({"icflags", b, IcError::BadFlags});
  }
  {
    auto b = answer(1, 40);
    wr16(b, 18, 41);
    cases.push_back({"icmsgsize past the end", b, IcError::BadSize});
  }
  for (const Case& c : cases) {
    const auto r = exact(c.bytes, parse_response_header);
    EXPECT_FALSE(r.has_value()) << c.what;
    ASSERT_TRUE(r.error.has_value()) << c.what;
    EXPECT_EQ(*r.error, c.error) << c.what << ": " << to_string(*r.error);
  }
}

// A negotiate answer: counts, then versions into slots 0 and 1.
std::vector<uint8_t> negotiate_answer(uint16_t fw_count, uint16_t msg_count, IcVersion fw, IcVersion msg) {
  auto b = answer(0, 8 + 4 * 2);
  wr16(b, 28, fw_count);
  wr16(b, 30, msg_count);
  wr16(b, 36, fw.major);
  wr16(b, 38, fw.minor);
  wr16(b, 40, msg.major);
  wr16(b, 42, msg.minor);
  return b;
}

Result<Negotiated> parse_negotiate(const std::vector<uint8_t>& b) {
  return exact(b, [](std::span<const uint8_t> s) {
    return parse_negotiate_response(s, kFrameworkVersions, kHeartbeatVersions);
  });
}

TEST(IcWire, NegotiateAnswerAccepted) {
  const auto r = parse_negotiate(negotiate_answer(1, 1, {3, 0}, {1, 0}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r.value, (Negotiated{{3, 0}, {1, 0}}));
}

TEST(IcWire, NegotiateAnswerRefusals) {
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    IcError error;
  };
  std::vector<Case> cases = {
      {"no common version", negotiate_answer(0, 0, {2, 0}, {2, 0}), IcError::NoCommonVersion},
      {"counts 1/0", negotiate_answer(1, 0, {3, 0}, {3, 0}), IcError::BadCount},
      {"counts 0/1", negotiate_answer(0, 1, {3, 0}, {3, 0}), IcError::BadCount},
      {"counts 2/2 (the host's own)", negotiate_answer(2, 2, {3, 0}, {3, 0}), IcError::BadCount},
      {"framework count above offered", negotiate_answer(3, 1, {3, 0}, {3, 0}), IcError::BadCount},
      {"message count above offered", negotiate_answer(1, 0xFFFF, {3, 0}, {3, 0}), IcError::BadCount},
      {"framework not offered", negotiate_answer(1, 1, {2, 0}, {3, 0}), IcError::VersionNotOffered},
      {"message not offered", negotiate_answer(1, 1, {3, 0}, {3, 1}), IcError::VersionNotOffered},
      {"message of another device", negotiate_answer(1, 1, {3, 0}, {4, 0}), IcError::VersionNotOffered},
  };
  {
    auto b = negotiate_answer(1, 1, {3, 0}, {3, 0});
    b.resize(40);
    wr32(b, 4, 32);
    wr16(b, 18, 12);
    cases.push_back({"no room for the two picks", b, IcError::TooShort});
  }
  {
    auto b = negotiate_answer(1, 1, {3, 0}, {3, 0});
    wr32(b, 20, 0x80004005u);
    cases.push_back({"status E_FAIL", b, IcError::BadStatus});
  }
  for (const Case& c : cases) {
    const auto r = parse_negotiate(c.bytes);
    EXPECT_FALSE(r.has_value()) << c.what;
    ASSERT_TRUE(r.error.has_value()) << c.what;
    EXPECT_EQ(*r.error, c.error) << c.what << ": " << to_string(*r.error);
  }
}

TEST(IcWire, HeartbeatAnswer) {
  auto b = answer(1, 40);
  test::wr64(b, 28, 43);
  const auto r = exact(b, parse_heartbeat_response);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r.value, 43u);

  b.resize(35);
  EXPECT_EQ(exact(b, parse_heartbeat_response).error, IcError::TooShort);
  b = answer(1, 40);
  wr32(b, 20, 0x80004005u);
  EXPECT_EQ(exact(b, parse_heartbeat_response).error, IcError::BadStatus);
}

TEST(IcWire, ErrorNamesAreDistinctLabels) {
  std::set<std::string> names;
  for (size_t i = 0; i < kIcErrorCount; ++i) {
    const std::string n = to_string(static_cast<IcError>(i));
    EXPECT_NE(n, "unknown") << i;
    for (char c : n) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << n;
    names.insert(n);
  }
  EXPECT_EQ(names.size(), kIcErrorCount);
}

}  // namespace
}  // namespace enlight::vmbus_util
