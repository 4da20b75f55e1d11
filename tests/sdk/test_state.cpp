// enlight/state.hpp (StateWriter, StateReader) and the save/load thunks
// plugin.hpp builds from a type's save/load members.
#include <enlight/plugin.hpp>
#include <enlight/state.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <vector>

namespace {

using ::testing::HasSubstr;

enum class Mode : uint16_t { A = 1, B = 0x1234 };

TEST(StateWriter, WritesLittleEndianFixedWidth) {
  uint8_t buf[64] = {};
  enlight::StateWriter w(buf, sizeof buf);
  w.put(uint32_t{0x11223344});
  w.put(int16_t{-2});
  w.put(true);
  w.put(Mode::B);
  std::atomic<uint64_t> a{0x0102030405060708};
  w.put(a);
  std::array<uint8_t, 3> arr{7, 8, 9};
  w.put(arr);
  ASSERT_EQ(w.result(), 4 + 2 + 1 + 2 + 8 + 3);
  const std::vector<uint8_t> got(buf, buf + w.result());
  EXPECT_EQ(got, (std::vector<uint8_t>{0x44, 0x33, 0x22, 0x11, 0xFE, 0xFF, 1, 0x34, 0x12, 8, 7, 6, 5, 4, 3, 2, 1, 7, 8, 9}));
}

TEST(StateWriter, OverflowReturnsMinusOneAndWritesNothingPastTheEnd) {
  uint8_t buf[8];
  std::memset(buf, 0xAA, sizeof buf);
  enlight::StateWriter w(buf, 6);
  w.put(uint32_t{1});
  w.put(uint32_t{2});  // does not fit
  w.put(uint8_t{3});   // would fit in what is left, but the state is already incomplete
  EXPECT_EQ(w.result(), -1);
  EXPECT_EQ(buf[6], 0xAA);
  EXPECT_EQ(buf[7], 0xAA);
  enlight::StateWriter exact(buf, 4);
  exact.put(uint32_t{5});
  EXPECT_EQ(exact.result(), 4);
  enlight::StateWriter none(nullptr, 0);
  none.put(uint8_t{1});
  EXPECT_EQ(none.result(), -1);
}

TEST(StateReader, ReadsBackWhatWasWritten) {
  uint8_t buf[64] = {};
  enlight::StateWriter w(buf, sizeof buf);
  w.put(uint64_t{0xFEDCBA9876543210});
  w.put(false);
  w.put(Mode::A);
  std::array<std::atomic<uint32_t>, 2> atoms{};
  atoms[0] = 5;
  atoms[1] = 6;
  w.put(atoms);
  enlight::StateReader r(buf, static_cast<uint64_t>(w.result()));
  EXPECT_EQ(r.get<uint64_t>(), 0xFEDCBA9876543210u);
  EXPECT_EQ(r.get<bool>(), false);
  EXPECT_EQ(r.get<Mode>(), Mode::A);
  std::array<std::atomic<uint32_t>, 2> back{};
  r.get(back);
  EXPECT_EQ(back[0].load(), 5u);
  EXPECT_EQ(back[1].load(), 6u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(StateReader, PastTheEndFailsWithZeros) {
  const uint8_t buf[3] = {1, 2, 3};
  enlight::StateReader r(buf, sizeof buf);
  EXPECT_EQ(r.get<uint16_t>(), 0x0201u);
  EXPECT_EQ(r.get<uint32_t>(), 0u);  // 1 byte left: fails, zero
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("ends early (3 bytes)"));
  EXPECT_EQ(r.get<uint8_t>(), 0u) << "nothing is read after a failure";
  uint8_t out[4] = {9, 9, 9, 9};
  EXPECT_FALSE(r.bytes(out, sizeof out));
  EXPECT_EQ(out[0], 0);
  enlight::StateReader empty(nullptr, 0);
  EXPECT_EQ(empty.get<uint64_t>(), 0u);
  EXPECT_FALSE(empty.ok());
}

TEST(StateReader, BoolOtherThanZeroOrOneIsRefused) {
  for (uint8_t raw : {uint8_t{2}, uint8_t{0x80}, uint8_t{0xFF}}) {
    const uint8_t buf[1] = {raw};
    enlight::StateReader r(buf, 1);
    (void)r.get<bool>();
    EXPECT_FALSE(r.ok()) << int(raw);
    EXPECT_THAT(r.message(), HasSubstr("neither 0 nor 1"));
  }
  const uint8_t one[1] = {1};
  enlight::StateReader r(one, 1);
  EXPECT_TRUE(r.get<bool>());
  EXPECT_TRUE(r.ok());
}

TEST(StateReader, FirstFailureIsKeptAndRefuseNamesTheValue) {
  const uint8_t buf[1] = {0};
  enlight::StateReader r(buf, 1);
  r.refuse("HV_X64_MSR_SINT3", 0x5, "unmasked with a vector below 16");
  r.fail("later");
  EXPECT_EQ(r.message(), "HV_X64_MSR_SINT3 = 0x0000000000000005: unmasked with a vector below 16");
}

TEST(StateReader, CompleteRefusesBytesLeftUnread) {
  const uint8_t buf[3] = {1, 2, 3};
  enlight::StateReader r(buf, sizeof buf);
  (void)r.get<uint16_t>();
  EXPECT_FALSE(r.complete());
  EXPECT_THAT(r.message(), HasSubstr("1 bytes of the saved state were left unread"));
  enlight::StateReader all(buf, sizeof buf);
  uint8_t out[3];
  ASSERT_TRUE(all.bytes(out, sizeof out));
  EXPECT_TRUE(all.complete());
}

// ---- The thunks: header, version, trailing bytes ---------------------------

struct Thing {
  static constexpr uint32_t kStateVersion = 3;
  uint32_t value = 0;
  void save(enlight::StateWriter& w) const { w.put(value); }
  void load(enlight::StateReader& r) {
    const uint32_t v = r.get<uint32_t>();
    if (r.ok() && v == 0xBAD) return r.refuse("value", v, "refused");
    if (r.ok()) value = v;
  }
};
static_assert(enlight::detail::saves_state<Thing>);
static_assert(!enlight::detail::saves_state<int>);

std::string load(Thing& t, const std::vector<uint8_t>& blob) {
  char text[256] = {};
  enlight_error e{text, sizeof text, 0};
  return enlight::detail::load_thunk<Thing>(&t, blob.data(), blob.size(), &e) == 0 ? "" : std::string(text);
}

TEST(StateThunks, HeaderVersionAndTrailingBytes) {
  Thing a;
  a.value = 0x12345678;
  std::vector<uint8_t> blob(64);
  EXPECT_EQ(enlight::detail::save_thunk<Thing>(&a, blob.data(), 8), -1) << "the header fits, the value does not";
  const int64_t n = enlight::detail::save_thunk<Thing>(&a, blob.data(), blob.size());
  ASSERT_EQ(n, 12);
  blob.resize(12);
  EXPECT_EQ(blob[4], 3) << "kStateVersion";
  Thing b;
  EXPECT_EQ(load(b, blob), "");
  EXPECT_EQ(b.value, 0x12345678u);

  std::vector<uint8_t> bad = blob;
  bad[0] ^= 1;
  EXPECT_THAT(load(b, bad), HasSubstr("not this plugin's"));
  bad = blob;
  bad[4] = 1;
  EXPECT_THAT(load(b, bad), HasSubstr("format version 1; this plugin reads 3"));
  bad = blob;
  bad.push_back(0);
  EXPECT_THAT(load(b, bad), HasSubstr("1 bytes of the saved state were left unread"));
  bad = blob;
  bad.pop_back();
  EXPECT_THAT(load(b, bad), HasSubstr("ends early"));
  EXPECT_THAT(load(b, {}), HasSubstr("not this plugin's"));
  bad = blob;
  bad[8] = 0xAD;
  bad[9] = 0x0B;
  bad[10] = bad[11] = 0;
  EXPECT_THAT(load(b, bad), HasSubstr("value = 0x0000000000000bad: refused"));
  EXPECT_EQ(b.value, 0x12345678u);
}

}  // namespace
