// GPADL assembly. The messages are the bytes Linux's create_gpadl_header
// posts (drivers/hv/channel.c), laid out by hand and run through the parser,
// so the table is tested on what it will actually receive.
#include "protocol/gpadl.hpp"

#include <gtest/gtest.h>

#include "label_names.hpp"
#include "message_bytes.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace enlight::vmbus {
namespace {

constexpr uint64_t kRamPages = 0x40000;  // 1 GiB

using test::Bytes;

// GPADL_HEADER: {relid@8, gpadl@12, u16 range_buflen@16, u16 rangecount@18,
// byte_count@20, byte_offset@24, pfns@28}, as Linux fills it: the first
// min(total, 26) of `pfns`.
GpadlHeader header(uint32_t relid, uint32_t handle, const std::vector<uint64_t>& pfns,
                   uint32_t byte_count = UINT32_MAX, uint16_t rangecount = 1, uint32_t byte_offset = 0) {
  const size_t total = pfns.size();
  const size_t here = total < 26 ? total : 26;
  Bytes m(28 + 8 * here, 8);
  m.u32(8, relid).u32(12, handle).u16(16, static_cast<uint16_t>(8 + 8 * total)).u16(18, rangecount);
  m.u32(20, byte_count == UINT32_MAX ? static_cast<uint32_t>(total * 4096) : byte_count).u32(24, byte_offset);
  for (size_t i = 0; i < here; ++i) m.u64(28 + 8 * i, pfns[i]);
  const Parsed p = parse_guest_message(m.b.data(), m.b.size());
  EXPECT_TRUE(p.ok()) << (p.error ? to_string(*p.error) : "");
  return std::get<GpadlHeader>(p.message);
}

// GPADL_BODY: {msgnumber@8 (Linux: always 0), gpadl@12, pfns@16}.
GpadlBody body(uint32_t handle, const std::vector<uint64_t>& pfns, uint32_t msgnumber = 0) {
  Bytes m(16 + 8 * pfns.size(), 9);
  m.u32(8, msgnumber).u32(12, handle);
  for (size_t i = 0; i < pfns.size(); ++i) m.u64(16 + 8 * i, pfns[i]);
  const Parsed p = parse_guest_message(m.b.data(), m.b.size());
  EXPECT_TRUE(p.ok()) << (p.error ? to_string(*p.error) : "");
  return std::get<GpadlBody>(p.message);
}

std::vector<uint64_t> pages(uint64_t first, size_t n) {
  std::vector<uint64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = first + i;
  return v;
}

std::vector<uint64_t> slice(const std::vector<uint64_t>& v, size_t from, size_t n) {
  return {v.begin() + static_cast<ptrdiff_t>(from), v.begin() + static_cast<ptrdiff_t>(from + n)};
}

void expect_refused(const GpadlUpdate& u, GpadlRefusal r) {
  EXPECT_EQ(u.status, GpadlStatus::Refused);
  EXPECT_EQ(u.refusal, r) << to_string(u.refusal);
  EXPECT_EQ(u.gpadl, nullptr);
}

// ---- Assembly ----------------------------------------------------------

TEST(Gpadl, ThreeMessageGpadlCompletesWithPfnsInOrder) {
  GpadlTable t(kRamPages);
  // Scattered, descending PFNs so order mistakes show.
  std::vector<uint64_t> pfns;
  for (uint64_t i = 0; i < 60; ++i) pfns.push_back(0x30000 - 7 * i);

  GpadlUpdate u = t.add_header(header(4, 0xe1e10, pfns));
  EXPECT_EQ(u.status, GpadlStatus::InProgress);
  EXPECT_EQ(u.handle, 0xe1e10u);
  EXPECT_EQ(u.child_relid, 4u);
  EXPECT_EQ(t.in_progress(), 1u);
  EXPECT_EQ(t.lookup(0xe1e10), nullptr) << "not usable before it is complete";

  u = t.add_body(body(0xe1e10, slice(pfns, 26, 28)));
  EXPECT_EQ(u.status, GpadlStatus::InProgress);
  u = t.add_body(body(0xe1e10, slice(pfns, 54, 6)));
  ASSERT_EQ(u.status, GpadlStatus::Completed);
  EXPECT_EQ(u.child_relid, 4u);
  ASSERT_NE(u.gpadl, nullptr);
  EXPECT_EQ(u.gpadl->handle, 0xe1e10u);
  EXPECT_EQ(u.gpadl->child_relid, 4u);
  EXPECT_EQ(u.gpadl->byte_count, 60u * 4096);
  EXPECT_EQ(u.gpadl->byte_offset, 0u);
  EXPECT_EQ(u.gpadl->pfns, pfns);
  EXPECT_EQ(t.lookup(0xe1e10), u.gpadl);
  EXPECT_EQ(t.in_progress(), 0u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.reserved_pfns(), 60u);
}

TEST(Gpadl, HeaderAloneCompletesASmallGpadl) {
  GpadlTable t(kRamPages);
  const GpadlUpdate u = t.add_header(header(1, 7, pages(0x100, 26)));
  ASSERT_EQ(u.status, GpadlStatus::Completed);
  EXPECT_EQ(u.gpadl->pfns, pages(0x100, 26));
  EXPECT_EQ(t.in_progress(), 0u);
}

TEST(Gpadl, MsgnumberIsIgnored) {
  // Linux sends 0 in every body; numbering them differently changes nothing.
  GpadlTable t(kRamPages);
  const auto pfns = pages(0x100, 30);
  t.add_header(header(1, 7, pfns));
  EXPECT_EQ(t.add_body(body(7, slice(pfns, 26, 4), 99)).status, GpadlStatus::Completed);
  EXPECT_EQ(t.lookup(7)->pfns, pfns);
}

TEST(Gpadl, ShortLastPageIsAccepted) {
  GpadlTable t(kRamPages);
  const GpadlUpdate u = t.add_header(header(1, 7, pages(0x100, 4), 3 * 4096 + 1));
  ASSERT_EQ(u.status, GpadlStatus::Completed);
  EXPECT_EQ(u.gpadl->byte_count, 3u * 4096 + 1);
}

TEST(Gpadl, ALinuxRingGpadlOfDefaultNetvscSize) {
  // netvsc's default ring: 128 pages of data + 1 header page per direction
  // (VMBUS_RING_SIZE), 258 pages: one header and nine bodies.
  GpadlTable t(kRamPages);
  const auto pfns = pages(0x20000, 258);
  ASSERT_EQ(t.add_header(header(2, 0xe1e10, pfns)).status, GpadlStatus::InProgress);
  GpadlUpdate u;
  for (size_t at = 26; at < pfns.size(); at += 28)
    u = t.add_body(body(0xe1e10, slice(pfns, at, std::min<size_t>(28, pfns.size() - at))));
  ASSERT_EQ(u.status, GpadlStatus::Completed);
  EXPECT_EQ(u.gpadl->pfns, pfns);
}

TEST(Gpadl, LargestWireGpadl) {
  // 8190 pages: range_buflen = 8 + 8 * 8190 = 0xFFF8, the largest u16
  // multiple of 8.
  GpadlTable t(kRamPages);
  const auto pfns = pages(0x1000, VMBUS_GPADL_MAX_PFNS);
  const GpadlHeader h = header(2, 1, pfns);
  EXPECT_EQ(h.range_buflen, 0xfff8u);
  ASSERT_EQ(t.add_header(h).status, GpadlStatus::InProgress);
  GpadlUpdate u;
  for (size_t at = 26; at < pfns.size(); at += 28)
    u = t.add_body(body(1, slice(pfns, at, std::min<size_t>(28, pfns.size() - at))));
  ASSERT_EQ(u.status, GpadlStatus::Completed);
  EXPECT_EQ(u.gpadl->pfns.size(), 8190u);
}

TEST(Gpadl, HandlesAreGlobalAcrossChannels) {
  GpadlTable t(kRamPages);
  EXPECT_EQ(t.add_header(header(1, 0xe1e10, pages(0x100, 2))).status, GpadlStatus::Completed);
  EXPECT_EQ(t.add_header(header(2, 0xe1e11, pages(0x200, 2))).status, GpadlStatus::Completed);
  expect_refused(t.add_header(header(2, 0xe1e10, pages(0x300, 2))), GpadlRefusal::DuplicateHandle);
  EXPECT_EQ(t.lookup(0xe1e10)->child_relid, 1u);
}

// ---- Refusals ------------------------------------------------------------

TEST(GpadlRefusal, DuplicateOfACompleteGpadlLeavesItAlone) {
  GpadlTable t(kRamPages);
  t.add_header(header(1, 7, pages(0x100, 2)));
  const GpadlUpdate u = t.add_header(header(3, 7, pages(0x500, 3)));
  expect_refused(u, GpadlRefusal::DuplicateHandle);
  EXPECT_EQ(u.handle, 7u);
  EXPECT_EQ(u.child_relid, 3u);
  EXPECT_EQ(t.lookup(7)->pfns, pages(0x100, 2));
  EXPECT_EQ(t.reserved_pfns(), 2u);
}

TEST(GpadlRefusal, DuplicateOfAGpadlInProgressLeavesItAlone) {
  GpadlTable t(kRamPages);
  const auto pfns = pages(0x100, 30);
  t.add_header(header(1, 7, pfns));
  expect_refused(t.add_header(header(1, 7, pages(0x500, 30))), GpadlRefusal::DuplicateHandle);
  EXPECT_EQ(t.add_body(body(7, slice(pfns, 26, 4))).status, GpadlStatus::Completed);
  EXPECT_EQ(t.lookup(7)->pfns, pfns);
}

TEST(GpadlRefusal, RangeCountOtherThanOne) {
  GpadlTable t(kRamPages);
  // Two ranges of one page: {4096, 0, pfn} twice, range_buflen 32.
  Bytes m(20 + 32, 8);
  m.u32(8, 1).u32(12, 7).u16(16, 32).u16(18, 2);
  m.u32(20, 4096).u64(28, 0x10).u32(36, 4096).u64(44, 0x20);
  const Parsed p = parse_guest_message(m.b.data(), m.b.size());
  ASSERT_TRUE(p.ok());
  expect_refused(t.add_header(std::get<GpadlHeader>(p.message)), GpadlRefusal::RangeCount);
  EXPECT_EQ(t.size(), 0u);
}

TEST(GpadlRefusal, NonZeroByteOffset) {
  GpadlTable t(kRamPages);
  expect_refused(t.add_header(header(1, 7, pages(0x100, 2), 4096, 1, 16)), GpadlRefusal::ByteOffset);
}

TEST(GpadlRefusal, ByteCountNotSpanningThePfns) {
  GpadlTable t(kRamPages);
  // Fewer pages than PFNs, more pages than PFNs, nothing at all.
  expect_refused(t.add_header(header(1, 7, pages(0x100, 4), 3 * 4096)), GpadlRefusal::ByteCount);
  expect_refused(t.add_header(header(1, 7, pages(0x100, 4), 4 * 4096 + 1)), GpadlRefusal::ByteCount);
  expect_refused(t.add_header(header(1, 7, pages(0x100, 4), 0)), GpadlRefusal::ByteCount);
  expect_refused(t.add_header(header(1, 7, {}, 0)), GpadlRefusal::ByteCount);
  expect_refused(t.add_header(header(1, 7, pages(0x100, 1), UINT32_MAX - 1)), GpadlRefusal::ByteCount);
  EXPECT_EQ(t.size(), 0u);
}

TEST(GpadlRefusal, PfnOutsideRamInTheHeader) {
  GpadlTable t(kRamPages);
  auto pfns = pages(0x100, 4);
  pfns[2] = kRamPages;
  expect_refused(t.add_header(header(1, 7, pfns)), GpadlRefusal::PfnOutOfRange);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.reserved_pfns(), 0u);
}

TEST(GpadlRefusal, PfnOutsideRamInABodyDiscardsTheGpadl) {
  GpadlTable t(kRamPages);
  auto pfns = pages(0x100, 40);
  pfns[30] = ~uint64_t{0};
  t.add_header(header(1, 7, pfns));
  const GpadlUpdate u = t.add_body(body(7, slice(pfns, 26, 14)));
  expect_refused(u, GpadlRefusal::PfnOutOfRange);
  EXPECT_EQ(u.child_relid, 1u) << "known, for a failed GPADL_CREATED";
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.in_progress(), 0u);
  EXPECT_EQ(t.reserved_pfns(), 0u);
  expect_refused(t.add_body(body(7, pages(0x200, 1))), GpadlRefusal::UnknownHandle);
}

TEST(GpadlRefusal, PfnCheckFollowsTheMemoryMap) {
  // RAM below 3 GiB and from 4 GiB: the PCI hole in between is not RAM.
  GpadlTable t([](uint64_t pfn) { return pfn < 0xc0000 || (pfn >= 0x100000 && pfn < 0x140000); });
  EXPECT_EQ(t.add_header(header(1, 1, {0xbffff, 0x100000})).status, GpadlStatus::Completed);
  expect_refused(t.add_header(header(1, 2, {0xc0000})), GpadlRefusal::PfnOutOfRange);
  expect_refused(t.add_header(header(1, 3, {0x140000})), GpadlRefusal::PfnOutOfRange);
}

TEST(GpadlRefusal, MorePfnsThanAnnouncedDiscardsTheGpadl) {
  GpadlTable t(kRamPages);
  const auto pfns = pages(0x100, 30);
  t.add_header(header(1, 7, pfns));
  expect_refused(t.add_body(body(7, pages(0x200, 5))), GpadlRefusal::PfnOverrun);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.reserved_pfns(), 0u);
}

TEST(GpadlRefusal, HeaderCarryingMorePfnsThanItAnnounces) {
  // The parser refuses this on the wire; a hand-made GpadlHeader must not
  // get past the table either.
  GpadlTable t(kRamPages);
  GpadlHeader h = header(1, 7, pages(0x100, 4));
  h.range_buflen = 8 + 8 * 2;
  h.byte_count = 2 * 4096;
  expect_refused(t.add_header(h), GpadlRefusal::PfnOverrun);
  h = header(1, 7, pages(0x100, 4));
  h.pfn_count = 1000;
  expect_refused(t.add_header(h), GpadlRefusal::PfnOverrun);
}

TEST(GpadlRefusal, BodyAfterCompletionLeavesTheGpadlAlone) {
  GpadlTable t(kRamPages);
  t.add_header(header(1, 7, pages(0x100, 2)));
  expect_refused(t.add_body(body(7, pages(0x200, 1))), GpadlRefusal::PfnOverrun);
  expect_refused(t.add_body(body(7, {})), GpadlRefusal::PfnOverrun);
  ASSERT_NE(t.lookup(7), nullptr);
  EXPECT_EQ(t.lookup(7)->pfns, pages(0x100, 2));
}

TEST(GpadlRefusal, BodyForAnUnknownHandle) {
  GpadlTable t(kRamPages);
  const GpadlUpdate u = t.add_body(body(0xe1e10, pages(0x100, 3)));
  expect_refused(u, GpadlRefusal::UnknownHandle);
  EXPECT_EQ(u.handle, 0xe1e10u);
  EXPECT_EQ(u.child_relid, 0u);
}

TEST(GpadlRefusal, GpadlLargerThanTheLimit) {
  GpadlTable::Limits l;
  l.max_pfns_per_gpadl = 32;
  GpadlTable t(kRamPages, l);
  EXPECT_EQ(t.add_header(header(1, 1, pages(0x100, 32))).status, GpadlStatus::InProgress);
  expect_refused(t.add_header(header(1, 2, pages(0x100, 33))), GpadlRefusal::TooLarge);
}

TEST(GpadlRefusal, TableFullCountsGpadlsInProgress) {
  GpadlTable::Limits l;
  l.max_gpadls = 3;
  GpadlTable t(kRamPages, l);
  t.add_header(header(1, 1, pages(0x100, 2)));    // complete
  t.add_header(header(1, 2, pages(0x100, 40)));   // in progress
  t.add_header(header(1, 3, pages(0x100, 40)));   // in progress
  expect_refused(t.add_header(header(1, 4, pages(0x100, 1))), GpadlRefusal::TableFull);
  EXPECT_EQ(t.teardown(2), TeardownResult::Ok);
  EXPECT_EQ(t.add_header(header(1, 4, pages(0x100, 1))).status, GpadlStatus::Completed);
}

TEST(GpadlRefusal, PfnBudgetChargesAnnouncedPages) {
  GpadlTable::Limits l;
  l.max_total_pfns = 100;
  GpadlTable t(kRamPages, l);
  // 60 announced, only 26 sent: the budget still holds 60 for it.
  EXPECT_EQ(t.add_header(header(1, 1, pages(0x100, 60))).status, GpadlStatus::InProgress);
  EXPECT_EQ(t.reserved_pfns(), 60u);
  expect_refused(t.add_header(header(1, 2, pages(0x100, 41))), GpadlRefusal::PfnBudget);
  EXPECT_EQ(t.add_header(header(1, 2, pages(0x100, 40))).status, GpadlStatus::InProgress);
  EXPECT_EQ(t.reserved_pfns(), 100u);
  EXPECT_EQ(t.teardown(1), TeardownResult::Ok);
  EXPECT_EQ(t.reserved_pfns(), 40u);
}

TEST(GpadlRefusal, ThousandsOfHeadersCannotExhaustMemory) {
  // A hostile guest sends header after header with fresh handles and never
  // a body. Small GPADLs stop at max_gpadls, large ones at the page budget;
  // either way what the table holds stays bounded.
  {
    GpadlTable t(kRamPages);
    size_t accepted = 0;
    for (uint32_t h = 1; h <= 5000; ++h) {
      const GpadlUpdate u = t.add_header(header(1, h, pages(0x100, 30)));
      if (u.status != GpadlStatus::Refused) {
        ++accepted;
      } else {
        EXPECT_EQ(u.refusal, GpadlRefusal::TableFull);
      }
    }
    EXPECT_EQ(accepted, 1024u);
    EXPECT_EQ(t.size(), 1024u);
    EXPECT_EQ(t.in_progress(), 1024u);
  }
  {
    GpadlTable t(kRamPages);
    const GpadlHeader big = header(1, 0, pages(0x100, VMBUS_GPADL_MAX_PFNS));
    size_t accepted = 0;
    for (uint32_t h = 1; h <= 5000; ++h) {
      GpadlHeader m = big;
      m.gpadl = h;
      const GpadlUpdate u = t.add_header(m);
      if (u.status != GpadlStatus::Refused) {
        ++accepted;
      } else {
        EXPECT_EQ(u.refusal, GpadlRefusal::PfnBudget);
      }
    }
    // 2^20 / 8190 = 128 GPADLs, 8 MiB of PFN storage at most.
    EXPECT_EQ(accepted, (uint64_t{1} << 20) / VMBUS_GPADL_MAX_PFNS);
    EXPECT_LE(t.reserved_pfns() * sizeof(uint64_t), size_t{8} << 20);
  }
}

TEST(GpadlRefusal, NamesAreDistinctLabels) {
  test::expect_distinct_label_names<GpadlRefusal>(kGpadlRefusalCount, [](GpadlRefusal e) { return to_string(e); });
}

// ---- Teardown, reset ----------------------------------------------------

TEST(Gpadl, TeardownForgetsTheHandle) {
  GpadlTable t(kRamPages);
  t.add_header(header(1, 7, pages(0x100, 2)));
  EXPECT_EQ(t.teardown(7), TeardownResult::Ok);
  EXPECT_EQ(t.lookup(7), nullptr);
  EXPECT_EQ(t.teardown(7), TeardownResult::Unknown);
  EXPECT_EQ(t.teardown(8), TeardownResult::Unknown);
  // The guest may reuse a torn-down handle.
  EXPECT_EQ(t.add_header(header(2, 7, pages(0x300, 1))).status, GpadlStatus::Completed);
  EXPECT_EQ(t.lookup(7)->child_relid, 2u);
}

TEST(Gpadl, TeardownOfAGpadlInProgress) {
  GpadlTable t(kRamPages);
  t.add_header(header(1, 7, pages(0x100, 40)));
  EXPECT_EQ(t.teardown(7), TeardownResult::Ok);
  EXPECT_EQ(t.in_progress(), 0u);
  EXPECT_EQ(t.reserved_pfns(), 0u);
  expect_refused(t.add_body(body(7, pages(0x200, 14))), GpadlRefusal::UnknownHandle);
}

TEST(Gpadl, ResetClearsEverything) {
  GpadlTable t(kRamPages);
  t.add_header(header(1, 1, pages(0x100, 2)));
  t.add_header(header(1, 2, pages(0x100, 40)));
  t.reset();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.in_progress(), 0u);
  EXPECT_EQ(t.reserved_pfns(), 0u);
  EXPECT_EQ(t.lookup(1), nullptr);
  expect_refused(t.add_body(body(2, pages(0x200, 14))), GpadlRefusal::UnknownHandle);
  // After a reset the guest starts again from its first handle.
  EXPECT_EQ(t.add_header(header(1, 1, pages(0x100, 2))).status, GpadlStatus::Completed);
}

}  // namespace
}  // namespace enlight::vmbus
