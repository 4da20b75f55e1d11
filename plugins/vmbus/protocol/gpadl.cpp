#include "protocol/gpadl.hpp"

#include <utility>

namespace enlight::vmbus {

const char* to_string(GpadlRefusal r) {
  switch (r) {
    case GpadlRefusal::DuplicateHandle: return "duplicate_handle";
    case GpadlRefusal::RangeCount: return "range_count";
    case GpadlRefusal::ByteOffset: return "byte_offset";
    case GpadlRefusal::ByteCount: return "byte_count";
    case GpadlRefusal::PfnOutOfRange: return "pfn_out_of_range";
    case GpadlRefusal::PfnOverrun: return "pfn_overrun";
    case GpadlRefusal::UnknownHandle: return "unknown_handle";
    case GpadlRefusal::TooLarge: return "too_large";
    case GpadlRefusal::TableFull: return "table_full";
    case GpadlRefusal::PfnBudget: return "pfn_budget";
  }
  return "invalid";
}

GpadlTable::GpadlTable(PfnCheck pfn_is_ram, Limits limits) : pfn_is_ram_(std::move(pfn_is_ram)), limits_(limits) {}

GpadlTable::GpadlTable(uint64_t ram_pages, Limits limits)
    : GpadlTable([ram_pages](uint64_t pfn) { return pfn < ram_pages; }, limits) {}

GpadlUpdate GpadlTable::refuse(GpadlRefusal r, uint32_t handle, uint32_t child_relid) const {
  GpadlUpdate u;
  u.status = GpadlStatus::Refused;
  u.refusal = r;
  u.handle = handle;
  u.child_relid = child_relid;
  return u;
}

GpadlUpdate GpadlTable::progress(const Entry& e) const {
  GpadlUpdate u;
  u.handle = e.gpadl.handle;
  u.child_relid = e.gpadl.child_relid;
  if (e.complete()) {
    u.status = GpadlStatus::Completed;
    u.gpadl = &e.gpadl;
  } else {
    u.status = GpadlStatus::InProgress;
  }
  return u;
}

void GpadlTable::erase(std::unordered_map<uint32_t, Entry>::iterator it) {
  if (!it->second.complete()) --in_progress_;
  reserved_pfns_ -= it->second.expected_pfns;
  entries_.erase(it);
}

GpadlUpdate GpadlTable::add_header(const GpadlHeader& h) {
  const uint32_t handle = h.gpadl;
  const uint32_t relid = h.child_relid;

  // Shape first, as QEMU's handle_gpadl_header does, so a malformed header
  // is reported as such even when the table is also full.
  if (h.rangecount != 1) return refuse(GpadlRefusal::RangeCount, handle, relid);
  if (h.byte_offset != 0) return refuse(GpadlRefusal::ByteOffset, handle, relid);
  // With rangecount 1 the parser's guarantee range_buflen >= 8 makes this
  // the page count of the one range.
  const uint32_t total = h.total_pfns();
  // 64-bit so a byte_count near 2^32 cannot wrap; Linux sends exactly
  // total * 4096 (QEMU requires that), a shorter last page is accepted.
  const uint64_t spanned = (uint64_t{h.byte_offset} + h.byte_count + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE;
  if (total == 0 || spanned != total) return refuse(GpadlRefusal::ByteCount, handle, relid);
  if (h.pfn_count > total || h.pfn_count > h.pfns.size()) return refuse(GpadlRefusal::PfnOverrun, handle, relid);
  if (total > limits_.max_pfns_per_gpadl) return refuse(GpadlRefusal::TooLarge, handle, relid);

  if (entries_.contains(handle)) return refuse(GpadlRefusal::DuplicateHandle, handle, relid);
  if (entries_.size() >= limits_.max_gpadls) return refuse(GpadlRefusal::TableFull, handle, relid);
  if (total > limits_.max_total_pfns - reserved_pfns_) return refuse(GpadlRefusal::PfnBudget, handle, relid);

  for (uint64_t pfn : h.pfn_span())
    if (!pfn_is_ram_(pfn)) return refuse(GpadlRefusal::PfnOutOfRange, handle, relid);

  Entry e;
  e.gpadl.handle = handle;
  e.gpadl.child_relid = relid;
  e.gpadl.byte_count = h.byte_count;
  e.gpadl.byte_offset = h.byte_offset;
  e.expected_pfns = total;
  // One allocation of exactly the announced size, already charged to the
  // budget above, so bodies never reallocate.
  e.gpadl.pfns.reserve(total);
  e.gpadl.pfns.assign(h.pfn_span().begin(), h.pfn_span().end());

  auto [it, inserted] = entries_.emplace(handle, std::move(e));
  (void)inserted;
  reserved_pfns_ += total;
  if (!it->second.complete()) ++in_progress_;
  return progress(it->second);
}

GpadlUpdate GpadlTable::add_body(const GpadlBody& b) {
  const uint32_t handle = b.gpadl;
  auto it = entries_.find(handle);
  if (it == entries_.end()) return refuse(GpadlRefusal::UnknownHandle, handle, 0);
  Entry& e = it->second;
  const uint32_t relid = e.gpadl.child_relid;
  if (e.complete()) return refuse(GpadlRefusal::PfnOverrun, handle, relid);

  const size_t missing = e.expected_pfns - e.gpadl.pfns.size();
  if (b.pfn_count > missing || b.pfn_count > b.pfns.size()) {
    erase(it);
    return refuse(GpadlRefusal::PfnOverrun, handle, relid);
  }
  for (uint64_t pfn : b.pfn_span()) {
    if (!pfn_is_ram_(pfn)) {
      erase(it);
      return refuse(GpadlRefusal::PfnOutOfRange, handle, relid);
    }
  }
  e.gpadl.pfns.insert(e.gpadl.pfns.end(), b.pfn_span().begin(), b.pfn_span().end());
  if (e.complete()) --in_progress_;
  return progress(e);
}

TeardownResult GpadlTable::teardown(uint32_t handle) {
  auto it = entries_.find(handle);
  if (it == entries_.end()) return TeardownResult::Unknown;
  erase(it);
  return TeardownResult::Ok;
}

void GpadlTable::reset() {
  entries_.clear();
  in_progress_ = 0;
  reserved_pfns_ = 0;
}

const Gpadl* GpadlTable::lookup(uint32_t handle) const {
  auto it = entries_.find(handle);
  if (it == entries_.end() || !it->second.complete()) return nullptr;
  return &it->second.gpadl;
}

}  // namespace enlight::vmbus
