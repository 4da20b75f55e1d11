// VMBus ring buffers (plugins/vmbus/protocol/ring.*): the page view and its
// wrap-around copies, the host consumer (RingReader) and producer
// (RingWriter), their signal decisions, and every corruption a guest can
// write into a ring.
//
// Every ring here lives in mmap'ed pages fenced by PROT_NONE guard pages, so
// any access outside the ring's own pages faults, in the normal build too.
// Three layouts: contiguous (the run-coalescing path), scattered (each page
// alone between guards, in GPADL order) and reversed (data pages in reverse
// host order between guards), which proves the copies split at every page.
// The "guest" side of a test writes raw bytes through its own byte-by-byte
// mapping (TestRing::byte), not through RingView, so the reader and writer
// are each checked against the wire format rather than against each other.
#include "protocol/ring.hpp"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace enlight::vmbus {
namespace {

constexpr uint32_t kPage = kRingPageSize;

enum class Layout { Contiguous, Scattered, Reversed };

std::string layout_name(Layout l) {
  switch (l) {
    case Layout::Contiguous: return "Contiguous";
    case Layout::Scattered: return "Scattered";
    case Layout::Reversed: return "Reversed";
  }
  return "?";
}

// A ring's pages (header + data_pages) in one mapping with PROT_NONE guards.
class TestRing {
 public:
  TestRing(uint32_t data_pages, Layout layout) : n_(data_pages + 1) {
    if (sysconf(_SC_PAGESIZE) != static_cast<long>(kPage)) throw std::runtime_error("tests assume 4 KiB host pages");
    // Contiguous: [guard][header][data...][guard]. Otherwise every page has
    // a guard on both sides: slot 2k+1 holds a page, even slots are guards.
    slots_ = layout == Layout::Contiguous ? n_ + 2 : 2 * n_ + 1;
    void* m = mmap(nullptr, slots_ * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::runtime_error("mmap");
    base_ = static_cast<uint8_t*>(m);
    for (size_t i = 0; i < n_; ++i) {
      size_t slot = 0;
      switch (layout) {
        case Layout::Contiguous: slot = 1 + i; break;
        case Layout::Scattered: slot = 2 * i + 1; break;
        // Header first, then data page 1 in the highest slot, data page n-1
        // in the lowest data slot.
        case Layout::Reversed: slot = i == 0 ? 1 : 2 * (n_ - i) + 1; break;
      }
      pages_.push_back(base_ + slot * kPage);
      if (mprotect(pages_.back(), kPage, PROT_READ | PROT_WRITE) != 0) throw std::runtime_error("mprotect");
    }
  }
  ~TestRing() { munmap(base_, slots_ * kPage); }
  TestRing(const TestRing&) = delete;
  TestRing& operator=(const TestRing&) = delete;

  std::span<uint8_t* const> pages() const { return pages_; }
  RingView view() const { return RingView(pages()); }
  uint32_t size() const { return static_cast<uint32_t>(n_ - 1) * kPage; }

  std::atomic_ref<uint32_t> field(uint32_t offset) const {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(pages_[0] + offset));
  }
  uint32_t write_index() const { return field(VMBUS_RING_WRITE_INDEX_OFFSET).load(); }
  uint32_t read_index() const { return field(VMBUS_RING_READ_INDEX_OFFSET).load(); }
  void set_indices(uint32_t write, uint32_t read) const {
    field(VMBUS_RING_WRITE_INDEX_OFFSET).store(write);
    field(VMBUS_RING_READ_INDEX_OFFSET).store(read);
  }

  // Byte `logical` of the data area, by the GPADL definition: data page
  // logical / 4096 is pages[1 + that].
  uint8_t& byte(uint32_t logical) const {
    logical %= size();
    return pages_[1 + logical / kPage][logical % kPage];
  }
  void put(uint32_t at, const void* src, uint32_t len) const {
    for (uint32_t i = 0; i < len; ++i) byte(at + i) = static_cast<const uint8_t*>(src)[i];
  }
  void get(uint32_t at, void* dst, uint32_t len) const {
    for (uint32_t i = 0; i < len; ++i) static_cast<uint8_t*>(dst)[i] = byte(at + i);
  }
  template <class T>
  T get_le(uint32_t at) const {
    T v;
    get(at, &v, sizeof v);
    return v;
  }

  // The guest's producer: a packet as Linux hv_ringbuffer_write lays it out,
  // with whatever descriptor values the test wants. Returns its size with
  // the trailer. Does not publish.
  uint32_t guest_put(uint32_t at, uint16_t type, uint16_t offset8, uint16_t len8, uint16_t flags, uint64_t trans_id,
                     const std::vector<uint8_t>& payload) const {
    uint8_t d[16];
    std::memcpy(d + 0, &type, 2);
    std::memcpy(d + 2, &offset8, 2);
    std::memcpy(d + 4, &len8, 2);
    std::memcpy(d + 6, &flags, 2);
    std::memcpy(d + 8, &trans_id, 8);
    // Trailer and payload first, descriptor last: with a bogus len8 they
    // may overlap it, and the test wants its descriptor as written.
    const uint64_t trailer = uint64_t{at} << 32;
    put(at + uint32_t{len8} * 8, &trailer, 8);
    put(at + 16, payload.data(), static_cast<uint32_t>(payload.size()));
    put(at, d, 16);
    return uint32_t{len8} * 8 + 8;
  }
  // A well-formed in-band packet with `payload`, published.
  uint32_t guest_send(const std::vector<uint8_t>& payload, uint64_t trans_id = 0) const {
    const uint32_t at = write_index();
    const auto len8 = static_cast<uint16_t>((16 + ((payload.size() + 7) & ~size_t{7})) / 8);
    const uint32_t n = guest_put(at, VM_PKT_DATA_INBAND, 2, len8, 0, trans_id, payload);
    field(VMBUS_RING_WRITE_INDEX_OFFSET).store((at + n) % size());
    return n;
  }
  // The guest's consumer, minimal: everything published is read.
  void guest_consume_all() const { field(VMBUS_RING_READ_INDEX_OFFSET).store(write_index()); }

 private:
  size_t n_;
  size_t slots_ = 0;
  uint8_t* base_ = nullptr;
  std::vector<uint8_t*> pages_;
};

std::vector<uint8_t> pattern(uint32_t len, uint32_t seed) {
  std::vector<uint8_t> v(len);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 16);
  }
  return v;
}

RingReader open_reader(const TestRing& r) {
  RingStatus s = RingStatus::Ok;
  auto reader = RingReader::open(r.view(), &s);
  EXPECT_EQ(s, RingStatus::Ok);
  if (!reader) throw std::runtime_error("open_reader");
  return std::move(*reader);
}

RingWriter open_writer(const TestRing& r) {
  RingStatus s = RingStatus::Ok;
  auto writer = RingWriter::open(r.view(), &s);
  EXPECT_EQ(s, RingStatus::Ok);
  if (!writer) throw std::runtime_error("open_writer");
  return std::move(*writer);
}

class RingLayout : public ::testing::TestWithParam<Layout> {};

INSTANTIATE_TEST_SUITE_P(Layouts, RingLayout,
                         ::testing::Values(Layout::Contiguous, Layout::Scattered, Layout::Reversed),
                         [](const auto& info) { return layout_name(info.param); });

// ---- RingView --------------------------------------------------------------

TEST(RingView, ValidatesThePageList) {
  TestRing r(2, Layout::Scattered);
  std::vector<uint8_t*> p(r.pages().begin(), r.pages().end());
  EXPECT_EQ(RingView::check(p), RingStatus::Ok);
  EXPECT_EQ(RingView(p).data_size(), 2 * kPage);
  EXPECT_EQ(RingView::check(std::span(p).first(2)), RingStatus::Ok);
  EXPECT_EQ(RingView(std::span(p).first(2)).data_size(), kPage);

  EXPECT_EQ(RingView::check({}), RingStatus::TooFewPages);
  EXPECT_EQ(RingView::check(std::span(p).first(1)), RingStatus::TooFewPages);
  for (size_t i = 0; i < p.size(); ++i) {
    auto q = p;
    q[i] = nullptr;
    EXPECT_EQ(RingView::check(q), RingStatus::NullPage) << i;
    q[i] = p[i] + 8;
    EXPECT_EQ(RingView::check(q), RingStatus::UnalignedPage) << i;
    EXPECT_THROW(RingView{q}, std::invalid_argument);
  }
  // Too many pages: only the count is looked at before the pointers.
  std::vector<uint8_t*> many(size_t{kMaxRingDataPages} + 2, p[0]);
  EXPECT_EQ(RingView::check(many), RingStatus::TooManyPages);
  many.pop_back();
  EXPECT_EQ(RingView::check(many), RingStatus::Ok);
}

TEST_P(RingLayout, CopiesWrapAndSplitAtEveryOffset) {
  TestRing r(3, GetParam());
  const RingView v = r.view();
  const uint32_t size = v.data_size();
  // Lengths that cross zero, one and two page boundaries and the wrap.
  for (const uint32_t len : {1u, 7u, 16u, 4095u, 4096u, 4097u, 8200u, size}) {
    for (uint32_t off = 0; off < size; off += (len > 4096 ? 61 : 1)) {
      const auto src = pattern(len, off + len);
      ASSERT_TRUE(v.write(off, src.data(), len));
      for (uint32_t i = 0; i < len; i += 97) ASSERT_EQ(r.byte(off + i), src[i]) << off << "+" << i;
      ASSERT_EQ(r.byte(off + len - 1), src[len - 1]);
      std::vector<uint8_t> back(len);
      ASSERT_TRUE(v.read(off, back.data(), len));
      ASSERT_EQ(back, src) << "len " << len << " off " << off;
    }
  }
}

TEST_P(RingLayout, CopiesRefuseArgumentsOutsideTheRing) {
  TestRing r(1, GetParam());
  const RingView v = r.view();
  std::vector<uint8_t> buf(2 * kPage + 8, 0xAB);
  EXPECT_FALSE(v.read(kPage, buf.data(), 8));
  EXPECT_FALSE(v.read(0xFFFFFFF8u, buf.data(), 8));
  EXPECT_FALSE(v.read(0, buf.data(), kPage + 1));
  EXPECT_FALSE(v.write(kPage, buf.data(), 8));
  EXPECT_FALSE(v.write(8, buf.data(), 0xFFFFFFFFu));
  EXPECT_TRUE(v.read(kPage - 8, buf.data(), kPage));  // the whole ring, wrapping
  EXPECT_TRUE(v.read(0, buf.data(), 0));
}

TEST(RingStatusNames, AreDistinctSnakeCaseLabels) {
  std::set<std::string_view> seen;
  for (int i = 0; i <= static_cast<int>(RingStatus::LengthBeyondData); ++i) {
    const auto s = static_cast<RingStatus>(i);
    const std::string_view n = name(s);
    EXPECT_TRUE(seen.insert(n).second) << n;
    EXPECT_NE(n, "unknown");
    for (const char c : n) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << n;
  }
  EXPECT_FALSE(is_corruption(RingStatus::TooLarge));
  EXPECT_FALSE(is_corruption(RingStatus::UnalignedPage));
  EXPECT_TRUE(is_corruption(RingStatus::WriteIndexOutOfRange));
  EXPECT_TRUE(is_corruption(RingStatus::LengthBeyondData));
}

// ---- Writer wire format, reader round trip ----------------------------------

// At every 8-byte start offset, for payloads from empty to the largest that
// fits, the writer's bytes are exactly the Linux wire format and the reader
// returns the same packet and ends where the writer did.
void round_trip_everywhere(Layout layout, uint32_t data_pages) {
  TestRing r(data_pages, layout);
  const uint32_t size = r.size();
  const uint32_t max_payload = size - 24 - 8;  // packet + trailer must leave 8 bytes
  std::vector<uint32_t> sizes{0, 1, 7, 8, 9, 63, 100, 4095, 4096, 4097, max_payload};
  std::vector<uint8_t> buffer(size);
  for (const uint32_t len : sizes) {
    if (len > max_payload) continue;
    const uint32_t padded = (len + 7) & ~7u;
    for (uint32_t start = 0; start < size; start += 8) {
      SCOPED_TRACE("payload " + std::to_string(len) + " start " + std::to_string(start));
      r.set_indices(start, start);
      r.field(VMBUS_RING_INTERRUPT_MASK_OFFSET).store(0);
      // Stale bytes where the padding goes: the writer must zero them.
      for (uint32_t i = 0; i < 8; ++i) r.byte(start + 16 + padded - 8 + i) = 0xEE;
      RingWriter w = open_writer(r);
      const auto payload = pattern(len, start ^ len);
      const uint64_t trans = (uint64_t{start} << 20) | len;
      const WriteResult wr = w.write(VM_PKT_COMP, 1, trans, payload);
      ASSERT_EQ(wr.status, RingStatus::Ok);
      EXPECT_TRUE(wr.signal_guest);  // empty -> non-empty, unmasked
      const uint32_t total = 16 + padded + 8;
      ASSERT_EQ(r.write_index(), (start + total) % size);
      ASSERT_EQ(r.read_index(), start);

      // The bytes, read through the test's own page mapping.
      ASSERT_EQ(r.get_le<uint16_t>(start + 0), VM_PKT_COMP);
      ASSERT_EQ(r.get_le<uint16_t>(start + 2), 2);
      ASSERT_EQ(r.get_le<uint16_t>(start + 4), (16 + padded) / 8);
      ASSERT_EQ(r.get_le<uint16_t>(start + 6), 1);
      ASSERT_EQ(r.get_le<uint64_t>(start + 8), trans);
      std::vector<uint8_t> raw(len);
      r.get(start + 16, raw.data(), len);
      ASSERT_EQ(raw, payload);
      for (uint32_t i = len; i < padded; ++i) ASSERT_EQ(r.byte(start + 16 + i), 0) << "padding " << i;
      ASSERT_EQ(r.get_le<uint64_t>(start + 16 + padded), uint64_t{start} << 32);

      RingReader rd = open_reader(r);
      PacketInfo info;
      ASSERT_EQ(rd.next(buffer, info), RingStatus::Ok);
      EXPECT_EQ(info.type, VM_PKT_COMP);
      EXPECT_EQ(info.flags, 1);
      EXPECT_EQ(info.trans_id, trans);
      EXPECT_EQ(info.data_offset, 16u);
      EXPECT_EQ(info.length, 16 + padded);
      ASSERT_TRUE(std::equal(payload.begin(), payload.end(), buffer.begin() + 16));
      EXPECT_FALSE(rd.consume());
      EXPECT_EQ(r.read_index(), r.write_index());
      EXPECT_EQ(rd.next(buffer, info), RingStatus::Empty);
    }
  }
}

TEST_P(RingLayout, RoundTripAtEveryOffsetOneDataPage) { round_trip_everywhere(GetParam(), 1); }
TEST_P(RingLayout, RoundTripAtEveryOffsetThreeDataPages) { round_trip_everywhere(GetParam(), 3); }

TEST_P(RingLayout, ReaderReadsGuestPacketsWithExtraDescriptorBytes) {
  // A GPA_DIRECT-like packet: offset8 = 4 (16 bytes of range header after
  // the descriptor), placed so that it wraps.
  TestRing r(2, GetParam());
  const uint32_t start = r.size() - 24;
  r.set_indices(start, start);
  RingReader rd = open_reader(r);
  const auto body = pattern(40, 9);  // 16 descriptor-extension bytes + 24 payload bytes
  const uint32_t n = r.guest_put(start, VM_PKT_DATA_USING_GPA_DIRECT, 4, 7, 1, 77, body);
  r.field(VMBUS_RING_WRITE_INDEX_OFFSET).store((start + n) % r.size());
  std::vector<uint8_t> buf(4096);
  PacketInfo info;
  ASSERT_EQ(rd.next(buf, info), RingStatus::Ok);
  EXPECT_EQ(info.type, VM_PKT_DATA_USING_GPA_DIRECT);
  EXPECT_EQ(info.data_offset, 32u);
  EXPECT_EQ(info.length, 56u);
  EXPECT_EQ(info.trans_id, 77u);
  EXPECT_TRUE(std::equal(body.begin(), body.end(), buf.begin() + 16));
  rd.consume();
  EXPECT_EQ(r.read_index(), (start + 64) % r.size());
}

TEST_P(RingLayout, ManyPacketsInSequenceWrapManyTimes) {
  TestRing r(2, GetParam());
  RingWriter w = open_writer(r);
  RingReader rd = open_reader(r);
  std::vector<uint8_t> buf(r.size());
  std::vector<uint32_t> lens;
  uint32_t seq = 0, got = 0;
  std::mt19937 rng(7);
  while (got < 5000) {
    // Write until full, read a random number, repeat.
    for (;;) {
      const uint32_t len = rng() % 900;
      lens.push_back(len);
      auto p = pattern(len, seq);
      const WriteResult res = w.write(VM_PKT_DATA_INBAND, 0, seq, p);
      if (res.status == RingStatus::Full) {
        lens.pop_back();
        break;
      }
      ASSERT_EQ(res.status, RingStatus::Ok);
      ++seq;
    }
    // Never completely full: the indices differ and at least 8 bytes stay free.
    ASSERT_NE(r.write_index(), r.read_index());
    const uint32_t used = (r.write_index() + r.size() - r.read_index()) % r.size();
    ASSERT_LE(used, r.size() - 8);
    const uint32_t reads = 1 + rng() % 6;
    for (uint32_t i = 0; i < reads; ++i) {
      PacketInfo info;
      const RingStatus s = rd.next(buf, info);
      if (s == RingStatus::Empty) break;
      ASSERT_EQ(s, RingStatus::Ok);
      ASSERT_EQ(info.trans_id, got);
      ASSERT_EQ(info.length, 16 + ((lens[got] + 7) & ~7u));
      const auto expect = pattern(lens[got], got);
      ASSERT_TRUE(std::equal(expect.begin(), expect.end(), buf.begin() + 16));
      ASSERT_TRUE(std::all_of(buf.begin() + 16 + lens[got], buf.begin() + info.length, [](uint8_t b) { return b == 0; }));
      rd.consume();
      ++got;
    }
  }
}

// ---- Never full ----------------------------------------------------------------

TEST_P(RingLayout, WriterNeverFillsTheRingCompletely) {
  TestRing r(1, GetParam());  // 4096 data bytes
  RingWriter w = open_writer(r);
  // 4048 payload bytes = 4072 with descriptor and trailer, leaving exactly
  // 24: an empty packet (24 bytes) would fill the ring, so it is refused.
  ASSERT_EQ(w.write(VM_PKT_DATA_INBAND, 0, 1, pattern(4048, 1)).status, RingStatus::Ok);
  EXPECT_EQ(w.write(VM_PKT_DATA_INBAND, 0, 2, {}).status, RingStatus::Full);
  EXPECT_EQ(r.write_index(), 4072u);
  // pending_send_sz asks for exactly the packet's bytes (the guest signals
  // when its free space exceeds it).
  EXPECT_EQ(r.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).load(), 24u);

  TestRing r2(1, GetParam());
  RingWriter w2 = open_writer(r2);
  // 8 bytes less: 32 left, the empty packet fits and leaves 8.
  ASSERT_EQ(w2.write(VM_PKT_DATA_INBAND, 0, 1, pattern(4040, 1)).status, RingStatus::Ok);
  ASSERT_EQ(w2.write(VM_PKT_DATA_INBAND, 0, 2, {}).status, RingStatus::Ok);
  EXPECT_EQ(r2.write_index(), 4088u);
  EXPECT_EQ(r2.read_index(), 0u);
  EXPECT_EQ(w2.write(VM_PKT_DATA_INBAND, 0, 3, {}).status, RingStatus::Full);
  EXPECT_EQ(r2.write_index(), 4088u);
}

TEST_P(RingLayout, WriterRefusesPacketsThatCanNeverFit) {
  TestRing r(1, GetParam());
  RingWriter w = open_writer(r);
  EXPECT_EQ(w.write(VM_PKT_DATA_INBAND, 0, 0, pattern(4072, 1)).status, RingStatus::TooLarge);  // 4096 total
  EXPECT_EQ(w.write(VM_PKT_DATA_INBAND, 0, 0, pattern(4065, 1)).status, RingStatus::TooLarge);  // pads to 4072
  EXPECT_EQ(r.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).load(), 0u);  // no hopeless request
  EXPECT_EQ(w.write(VM_PKT_DATA_INBAND, 0, 0, pattern(4064, 1)).status, RingStatus::Ok);  // 4088, leaves 8
  std::vector<uint8_t> huge(size_t{kMaxPacketPayload} + 1);
  TestRing big(200, Layout::Contiguous);  // 800 KiB: larger than len8 can describe
  RingWriter wb = open_writer(big);
  EXPECT_EQ(wb.write(VM_PKT_DATA_INBAND, 0, 0, huge).status, RingStatus::TooLarge);
  huge.pop_back();
  EXPECT_EQ(wb.write(VM_PKT_DATA_INBAND, 0, 0, huge).status, RingStatus::Ok);
  EXPECT_EQ(big.get_le<uint16_t>(4), 0xFFFF);
}

// ---- Writer: signals and flow control ---------------------------------------------

TEST_P(RingLayout, WriterSignalsOnlyOnEmptyToNonEmpty) {
  TestRing r(2, GetParam());
  RingWriter w = open_writer(r);
  const auto p = pattern(100, 1);
  EXPECT_TRUE(w.write(VM_PKT_DATA_INBAND, 0, 1, p).signal_guest);   // was empty
  EXPECT_FALSE(w.write(VM_PKT_DATA_INBAND, 0, 2, p).signal_guest);  // guest has not read
  r.guest_consume_all();
  EXPECT_TRUE(w.write(VM_PKT_DATA_INBAND, 0, 3, p).signal_guest);   // empty again
  // The guest read only part: not empty before this write.
  const uint32_t after3 = r.write_index();
  EXPECT_FALSE(w.write(VM_PKT_DATA_INBAND, 0, 4, p).signal_guest);
  r.field(VMBUS_RING_READ_INDEX_OFFSET).store(after3);
  EXPECT_FALSE(w.write(VM_PKT_DATA_INBAND, 0, 5, p).signal_guest);
  // Masked (the guest polls: Linux hv_begin_read): no signal even when empty.
  r.guest_consume_all();
  r.field(VMBUS_RING_INTERRUPT_MASK_OFFSET).store(1);
  EXPECT_FALSE(w.write(VM_PKT_DATA_INBAND, 0, 6, p).signal_guest);
  r.guest_consume_all();
  r.field(VMBUS_RING_INTERRUPT_MASK_OFFSET).store(0);
  EXPECT_TRUE(w.write(VM_PKT_DATA_INBAND, 0, 7, p).signal_guest);
}

TEST_P(RingLayout, BatchPublishesOnceAndSignalsOnce) {
  TestRing r(2, GetParam());
  RingWriter w = open_writer(r);
  const auto a = pattern(10, 1), b = pattern(300, 2), c = pattern(0, 3);
  const std::array<OutgoingPacket, 3> batch{{{VM_PKT_DATA_INBAND, 0, 1, a}, {VM_PKT_COMP, 0, 2, b}, {VM_PKT_DATA_INBAND, 1, 3, c}}};
  // Appending does not publish.
  ASSERT_EQ(w.append(batch[0]), RingStatus::Ok);
  EXPECT_EQ(r.write_index(), 0u);
  EXPECT_TRUE(w.commit());
  EXPECT_EQ(r.write_index(), 40u);
  EXPECT_FALSE(w.commit());  // nothing new
  r.guest_consume_all();
  const BatchResult res = w.write_batch(batch);
  EXPECT_EQ(res.written, 3u);
  EXPECT_EQ(res.status, RingStatus::Ok);
  EXPECT_TRUE(res.signal_guest);
  EXPECT_EQ(r.write_index(), 40u + 40 + 328 + 24);
  RingReader rd = open_reader(r);
  std::vector<uint8_t> buf(1024);
  PacketInfo info;
  for (uint64_t id : {1, 2, 3}) {
    ASSERT_EQ(rd.next(buf, info), RingStatus::Ok);
    EXPECT_EQ(info.trans_id, id);
    rd.consume();
  }
  // A batch that does not fit stops at the first packet that does not, and
  // publishes the ones before it.
  r.guest_consume_all();
  const auto big = pattern(3000, 4);
  const std::array<OutgoingPacket, 4> too_much{{{VM_PKT_DATA_INBAND, 0, 4, big},
                                                {VM_PKT_DATA_INBAND, 0, 5, big},
                                                {VM_PKT_DATA_INBAND, 0, 6, big},
                                                {VM_PKT_DATA_INBAND, 0, 7, a}}};
  const uint32_t before = r.write_index();
  const BatchResult part = w.write_batch(too_much);
  EXPECT_EQ(part.written, 2u);
  EXPECT_EQ(part.status, RingStatus::Full);
  EXPECT_TRUE(part.signal_guest);
  EXPECT_EQ(r.write_index(), (before + 2 * 3024) % r.size());
  // pending_send_sz counts the unpublished packets too: it was set while
  // the two were appended but not yet published.
  EXPECT_EQ(r.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).load(), 3024u + 2 * 3024);
}

TEST_P(RingLayout, WriterSetsFeatureBitAndClearsPendingSendSizeWhenServed) {
  TestRing r(1, GetParam());
  r.field(VMBUS_RING_FEATURE_BITS_OFFSET).store(0x100);  // other bits are kept
  r.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).store(1234);
  RingWriter w = open_writer(r);
  EXPECT_EQ(r.field(VMBUS_RING_FEATURE_BITS_OFFSET).load(), 0x100u | VMBUS_RING_BUFFER_FEAT_PENDING_SZ);
  EXPECT_EQ(r.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).load(), 0u);
  ASSERT_EQ(w.write(VM_PKT_DATA_INBAND, 0, 1, pattern(2000, 1)).status, RingStatus::Ok);  // 2024
  EXPECT_EQ(w.write(VM_PKT_DATA_INBAND, 0, 2, pattern(2100, 1)).status, RingStatus::Full);  // needs 2128
  EXPECT_EQ(r.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).load(), 2128u);
  r.guest_consume_all();
  ASSERT_EQ(w.write(VM_PKT_DATA_INBAND, 0, 2, pattern(2100, 1)).status, RingStatus::Ok);
  EXPECT_EQ(r.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).load(), 0u);
}

TEST_P(RingLayout, WriterRefusesCorruptIndices) {
  for (const uint32_t bad : {4096u, 4100u, 0xFFFFFFF8u, 12u, 4u}) {
    TestRing r(1, GetParam());
    RingStatus s = RingStatus::Ok;
    r.set_indices(bad, 0);
    EXPECT_FALSE(RingWriter::open(r.view(), &s));
    EXPECT_EQ(s, bad % 8 != 0 && bad < 4096 ? RingStatus::WriteIndexUnaligned : RingStatus::WriteIndexOutOfRange);
    r.set_indices(0, bad);
    EXPECT_FALSE(RingWriter::open(r.view(), &s));
    EXPECT_EQ(s, bad % 8 != 0 && bad < 4096 ? RingStatus::ReadIndexUnaligned : RingStatus::ReadIndexOutOfRange);
    EXPECT_EQ(r.field(VMBUS_RING_FEATURE_BITS_OFFSET).load(), 0u);  // refused before touching anything

    // A read_index corrupted later is caught when the writer needs it, and
    // nothing is written.
    r.set_indices(0, 0);
    RingWriter w = open_writer(r);
    ASSERT_EQ(w.write(VM_PKT_DATA_INBAND, 0, 1, pattern(3000, 1)).status, RingStatus::Ok);
    r.field(VMBUS_RING_READ_INDEX_OFFSET).store(bad);
    const uint8_t before = r.byte(3024);
    const RingStatus ws = w.write(VM_PKT_DATA_INBAND, 0, 2, pattern(2000, 2)).status;
    EXPECT_TRUE(is_corruption(ws)) << name(ws);
    EXPECT_EQ(r.write_index(), 3024u);
    EXPECT_EQ(r.byte(3024), before);
  }
}

// ---- Reader: corruption ------------------------------------------------------------

struct Corruption {
  const char* what;
  RingStatus expect;
  // Sets up the ring (reader opened at `start`); returns nothing.
  void (*setup)(const TestRing& r, uint32_t start);
};

void publish(const TestRing& r, uint32_t start, uint32_t bytes) {
  r.field(VMBUS_RING_WRITE_INDEX_OFFSET).store((start + bytes) % r.size());
}

const Corruption kCorruptions[] = {
    {"write_index == data size", RingStatus::WriteIndexOutOfRange,
     [](const TestRing& r, uint32_t) { r.field(VMBUS_RING_WRITE_INDEX_OFFSET).store(r.size()); }},
    {"write_index huge", RingStatus::WriteIndexOutOfRange,
     [](const TestRing& r, uint32_t) { r.field(VMBUS_RING_WRITE_INDEX_OFFSET).store(0xFFFFFFF8u); }},
    {"write_index unaligned", RingStatus::WriteIndexUnaligned,
     [](const TestRing& r, uint32_t s) { r.field(VMBUS_RING_WRITE_INDEX_OFFSET).store((s + 36) % r.size()); }},
    {"8 bytes published", RingStatus::Truncated,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 2, 2, 0, 0, {});
       publish(r, s, 8);
     }},
    {"len8 0", RingStatus::LengthTooSmall,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 2, 0, 0, 0, {});
       publish(r, s, 64);
     }},
    {"len8 1", RingStatus::LengthTooSmall,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 1, 1, 0, 0, {});
       publish(r, s, 64);
     }},
    {"offset8 0", RingStatus::OffsetTooSmall,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 0, 4, 0, 0, pattern(16, 1));
       publish(r, s, 40);
     }},
    {"offset8 1", RingStatus::OffsetTooSmall,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 1, 4, 0, 0, pattern(16, 1));
       publish(r, s, 40);
     }},
    {"offset8 beyond len8", RingStatus::OffsetBeyondLength,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 5, 4, 0, 0, pattern(16, 1));
       publish(r, s, 40);
     }},
    {"offset8 0xFFFF", RingStatus::OffsetBeyondLength,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 0xFFFF, 4, 0, 0, pattern(16, 1));
       publish(r, s, 40);
     }},
    {"len8 0xFFFF", RingStatus::LengthBeyondData,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 2, 4, 0, 0, pattern(16, 1));
       const uint16_t len8 = 0xFFFF;
       r.put(s + 4, &len8, 2);
       publish(r, s, 40);
     }},
    {"one unit more than published", RingStatus::LengthBeyondData,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 2, 5, 0, 0, pattern(24, 1));
       publish(r, s, 40);  // the packet claims 40 + 8
     }},
    {"published without its trailer", RingStatus::LengthBeyondData,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 2, 4, 0, 0, pattern(16, 1));
       publish(r, s, 32);
     }},
    {"claims more than the ring", RingStatus::LengthBeyondData,
     [](const TestRing& r, uint32_t s) {
       r.guest_put(s, VM_PKT_DATA_INBAND, 2, static_cast<uint16_t>(r.size() / 8), 0, 0, {});
       publish(r, s, r.size() - 8);
     }},
};

TEST_P(RingLayout, ReaderRefusesEveryCorruptionWithoutConsuming) {
  for (const Corruption& c : kCorruptions) {
    // At the start, in the middle of a page, and wrapping: the descriptor
    // straddles the end of the data area.
    for (const uint32_t start : {0u, 2048u, 2u * kPage - 8}) {
      SCOPED_TRACE(std::string(c.what) + " at " + std::to_string(start));
      TestRing r(2, GetParam());
      r.set_indices(start, start);
      RingReader rd = open_reader(r);
      c.setup(r, start);
      std::vector<uint8_t> buf(r.size());
      PacketInfo info;
      EXPECT_EQ(rd.next(buf, info), c.expect) << name(rd.next(buf, info));
      EXPECT_TRUE(is_corruption(c.expect));
      // Asking again gives the same answer; consuming does nothing.
      EXPECT_EQ(rd.next(buf, info), c.expect);
      EXPECT_FALSE(rd.consume());
      EXPECT_EQ(rd.read_index(), start);
      EXPECT_EQ(r.read_index(), start);
      const DrainEnd end = rd.end_drain();
      EXPECT_TRUE(end.more);  // so the caller calls next() and meets the error
      EXPECT_EQ(r.read_index(), start);
    }
  }
}

TEST_P(RingLayout, ReaderRefusesToOpenAtACorruptReadIndex) {
  for (const uint32_t bad : {8192u, 0xFFFFFFF8u, 0x80000000u}) {
    TestRing r(2, GetParam());
    r.set_indices(0, bad);
    RingStatus s = RingStatus::Ok;
    EXPECT_FALSE(RingReader::open(r.view(), &s));
    EXPECT_EQ(s, RingStatus::ReadIndexOutOfRange);
  }
  for (const uint32_t bad : {1u, 4u, 4100u}) {
    TestRing r(2, GetParam());
    r.set_indices(0, bad);
    RingStatus s = RingStatus::Ok;
    EXPECT_FALSE(RingReader::open(r.view(), &s));
    EXPECT_EQ(s, RingStatus::ReadIndexUnaligned);
  }
}

TEST_P(RingLayout, ReaderIgnoresTheHeaderReadIndexAfterOpen) {
  // The host owns read_index of the ring it consumes; a guest rewriting it
  // cannot move the reader.
  TestRing r(1, GetParam());
  RingReader rd = open_reader(r);
  r.guest_send(pattern(10, 1), 1);
  r.guest_send(pattern(10, 2), 2);
  r.field(VMBUS_RING_READ_INDEX_OFFSET).store(40);
  std::vector<uint8_t> buf(256);
  PacketInfo info;
  ASSERT_EQ(rd.next(buf, info), RingStatus::Ok);
  EXPECT_EQ(info.trans_id, 1u);
}

TEST_P(RingLayout, TooLargeForTheCallerIsReportedAndNotConsumed) {
  TestRing r(2, GetParam());
  RingReader rd = open_reader(r);
  r.guest_send(pattern(500, 1), 1);
  r.guest_send(pattern(20, 2), 2);
  std::vector<uint8_t> small(64), big(1024);
  PacketInfo info;
  EXPECT_EQ(rd.next(small, info), RingStatus::TooLarge);
  EXPECT_EQ(info.length, 16u + 504);  // the caller learns what it needs
  EXPECT_EQ(info.trans_id, 1u);
  EXPECT_EQ(r.read_index(), 0u);
  EXPECT_EQ(std::count(small.begin(), small.end(), 0), 64);  // nothing copied
  // Retry with room: the same packet.
  ASSERT_EQ(rd.next(big, info), RingStatus::Ok);
  EXPECT_EQ(info.trans_id, 1u);
  // Or drop it: the caller's choice; the next packet follows.
  ASSERT_EQ(rd.next(small, info), RingStatus::TooLarge);
  rd.consume();
  EXPECT_EQ(r.read_index(), 528u);
  ASSERT_EQ(rd.next(small, info), RingStatus::Ok);
  EXPECT_EQ(info.trans_id, 2u);
}

TEST_P(RingLayout, RandomGarbageNeverEscapesThePages) {
  // Whatever the guest writes, the reader answers with a status and stays
  // inside the pages (the guards would fault otherwise).
  TestRing r(2, GetParam());
  std::mt19937 rng(12345);
  std::vector<uint8_t> buf(3000);
  for (int round = 0; round < 1000; ++round) {
    for (uint32_t i = 0; i < r.size(); i += 4) {
      const uint32_t x = rng();
      r.put(i, &x, 4);
    }
    // Mostly descriptor-shaped garbage, with small plausible lengths.
    for (uint32_t at = 0; at < r.size(); at += 8 * (1 + rng() % 8)) {
      const uint16_t off8 = static_cast<uint16_t>(rng() % 6), len8 = static_cast<uint16_t>(rng() % 400);
      r.put(at + 2, &off8, 2);
      r.put(at + 4, &len8, 2);
    }
    const uint32_t start = (rng() % (r.size() / 8)) * 8;
    r.set_indices(start, start);
    RingReader rd = open_reader(r);
    r.field(VMBUS_RING_WRITE_INDEX_OFFSET).store(round % 7 == 0 ? rng() : (rng() % (r.size() / 8)) * 8);
    r.field(VMBUS_RING_FEATURE_BITS_OFFSET).store(rng());
    r.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).store(rng() % 9000);
    for (int i = 0; i < 50; ++i) {
      PacketInfo info;
      const RingStatus s = rd.next(buf, info);
      if (s == RingStatus::Ok) {
        ASSERT_GE(info.length, 16u);
        ASSERT_LE(info.length, buf.size());
        ASSERT_GE(info.data_offset, 16u);
        ASSERT_LE(info.data_offset, info.length);
      } else if (s != RingStatus::TooLarge) {
        ASSERT_TRUE(s == RingStatus::Empty || is_corruption(s)) << name(s);
        break;
      }
      rd.consume();
      ASSERT_EQ(rd.read_index() % 8, 0u);
      ASSERT_LT(rd.read_index(), r.size());
    }
  }
}

// ---- Reader: interrupt mask and pending_send_sz ---------------------------------------

TEST_P(RingLayout, DrainProtocolMasksThenRechecks) {
  TestRing r(2, GetParam());
  RingReader rd = open_reader(r);
  std::vector<uint8_t> buf(512);
  PacketInfo info;
  rd.begin_drain();
  EXPECT_EQ(r.field(VMBUS_RING_INTERRUPT_MASK_OFFSET).load(), 1u);
  r.guest_send(pattern(30, 1), 1);
  ASSERT_EQ(rd.next(buf, info), RingStatus::Ok);
  rd.advance();  // consumed but not yet published
  EXPECT_EQ(r.read_index(), 0u);
  ASSERT_EQ(rd.next(buf, info), RingStatus::Empty);
  // The guest writes after our last look, while the mask is still set: it
  // would not signal (Linux hv_signal_on_write), so end_drain must see it.
  r.guest_send(pattern(30, 2), 2);
  DrainEnd end = rd.end_drain();
  EXPECT_TRUE(end.more);
  EXPECT_EQ(r.field(VMBUS_RING_INTERRUPT_MASK_OFFSET).load(), 0u);
  EXPECT_EQ(r.read_index(), 56u);  // end_drain published the advance
  rd.begin_drain();
  ASSERT_EQ(rd.next(buf, info), RingStatus::Ok);
  EXPECT_EQ(info.trans_id, 2u);
  rd.advance();
  end = rd.end_drain();
  EXPECT_FALSE(end.more);
  EXPECT_EQ(r.read_index(), r.write_index());  // the guest will see "empty" and signal next time
  EXPECT_EQ(r.field(VMBUS_RING_INTERRUPT_MASK_OFFSET).load(), 0u);
  // A packet peeked but not consumed stays, and counts as more.
  r.guest_send(pattern(30, 3), 3);
  rd.begin_drain();
  ASSERT_EQ(rd.next(buf, info), RingStatus::Ok);
  end = rd.end_drain();
  EXPECT_TRUE(end.more);
  EXPECT_EQ(r.read_index(), 112u);
  ASSERT_EQ(rd.next(buf, info), RingStatus::Ok);
  EXPECT_EQ(info.trans_id, 3u);
}

// The guest filled the ring with four 1 KiB packets less one (3072 of 4096
// used, 1024 free) and wants pending_send_sz bytes.
struct BlockedGuest {
  TestRing ring;
  explicit BlockedGuest(Layout layout, uint32_t pending, bool feature = true) : ring(1, layout) {
    for (int i = 0; i < 3; ++i) ring.guest_send(pattern(1000, i), i);  // 1024 bytes each
    if (feature) ring.field(VMBUS_RING_FEATURE_BITS_OFFSET).store(VMBUS_RING_BUFFER_FEAT_PENDING_SZ);
    ring.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).store(pending);
  }
};

std::vector<bool> consume_three(const TestRing& r, bool batch_first_two = false) {
  RingReader rd = open_reader(r);
  std::vector<uint8_t> buf(2048);
  PacketInfo info;
  std::vector<bool> signals;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(rd.next(buf, info), RingStatus::Ok);
    if (batch_first_two && i == 0) {
      rd.advance();
      continue;
    }
    signals.push_back(rd.consume());
  }
  return signals;
}

TEST_P(RingLayout, ReaderSignalsWhenCrossingPendingSendSize) {
  // Wants 2048: free goes 1024 -> 2048 (still not more than 2048) -> 3072
  // (crossed: signal) -> 4096 (was already enough: no signal).
  EXPECT_EQ(consume_three(BlockedGuest(GetParam(), 2048).ring), (std::vector<bool>{false, true, false}));
  // Wants 1500: crossed by the first read.
  EXPECT_EQ(consume_three(BlockedGuest(GetParam(), 1500).ring), (std::vector<bool>{true, false, false}));
  // Wants 1024 with 1024 free: exactly enough is not enough, so it is
  // blocked; the first read crosses.
  EXPECT_EQ(consume_three(BlockedGuest(GetParam(), 1024).ring), (std::vector<bool>{true, false, false}));
  // Wants 1000 with 1024 free: it was never blocked.
  EXPECT_EQ(consume_three(BlockedGuest(GetParam(), 1000).ring), (std::vector<bool>{false, false, false}));
  // Wants 4096: never satisfiable, never signalled ("don't give false hope").
  EXPECT_EQ(consume_three(BlockedGuest(GetParam(), 4096).ring), (std::vector<bool>{false, false, false}));
  // Nothing pending.
  EXPECT_EQ(consume_three(BlockedGuest(GetParam(), 0).ring), (std::vector<bool>{false, false, false}));
  // The guest did not announce flow control: pending_send_sz is ignored.
  EXPECT_EQ(consume_three(BlockedGuest(GetParam(), 2048, false).ring), (std::vector<bool>{false, false, false}));
  // Two reads committed at once cross in one step: one signal.
  EXPECT_EQ(consume_three(BlockedGuest(GetParam(), 2048).ring, true), (std::vector<bool>{true, false}));
}

TEST_P(RingLayout, PendingSendSizeSignalIgnoresTheHostsOwnMask) {
  BlockedGuest g(GetParam(), 2048);
  RingReader rd = open_reader(g.ring);
  rd.begin_drain();
  std::vector<uint8_t> buf(2048);
  PacketInfo info;
  ASSERT_EQ(rd.next(buf, info), RingStatus::Ok);
  rd.advance();
  ASSERT_EQ(rd.next(buf, info), RingStatus::Ok);
  rd.advance();
  const DrainEnd end = rd.end_drain();
  EXPECT_TRUE(end.signal_guest);  // the commit inside end_drain crossed 2048
  EXPECT_TRUE(end.more);
}

// ---- Concurrency -------------------------------------------------------------------

TEST(RingConcurrency, ProducerAndConsumerThreads) {
  // Host writer and host reader on one ring from two threads: every packet
  // arrives once, whole and in order, with the ring wrapping thousands of
  // times.
  TestRing r(3, Layout::Reversed);
  constexpr uint32_t kPackets = 100000;
  RingWriter w = open_writer(r);
  RingReader rd = open_reader(r);
  std::thread producer([&] {
    for (uint32_t i = 0; i < kPackets; ++i) {
      const auto p = pattern(i % 700, i);
      for (;;) {
        const RingStatus s = w.write(VM_PKT_DATA_INBAND, 0, i, p).status;
        if (s == RingStatus::Ok) break;
        ASSERT_EQ(s, RingStatus::Full);
        std::this_thread::yield();
      }
    }
  });
  std::vector<uint8_t> buf(1024);
  uint32_t got = 0;
  while (got < kPackets) {
    PacketInfo info;
    const RingStatus s = rd.next(buf, info);
    if (s == RingStatus::Empty) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_EQ(s, RingStatus::Ok);
    ASSERT_EQ(info.trans_id, got);
    const auto expect = pattern(got % 700, got);
    ASSERT_TRUE(std::equal(expect.begin(), expect.end(), buf.begin() + 16)) << got;
    rd.consume();
    ++got;
  }
  producer.join();
}

}  // namespace
}  // namespace enlight::vmbus
