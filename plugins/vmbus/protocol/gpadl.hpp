// GPADLs (guest physical address descriptor lists): the guest describes a
// buffer, usually a channel's ring pair or netvsc's receive/send buffer, as
// a list of 4 KiB page frame numbers sent in one GPADL_HEADER and as many
// GPADL_BODY messages as it takes, under a handle the guest chooses (Linux
// counts up from 0xE1E10, one counter for all channels). The host answers
// GPADL_CREATED once every PFN has arrived, and from then on the handle
// names the buffer in OPENCHANNEL and in device protocols.
//
// GpadlTable is the policy layer over the structurally valid messages
// parse_guest_message() produces (channel_messages.hpp): it accepts only
// what Linux sends and what QEMU accepts, and it bounds what a guest can
// make the host store. It is not thread-safe; the bus handles channel
// messages one at a time, in arrival order.
#pragma once

#include "protocol/channel_messages.hpp"

#include <enlight/tlfs.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace enlight::vmbus {

// A complete GPADL: pfns.size() pages, of which the buffer is byte_count
// bytes from byte_offset in the first page.
struct Gpadl {
  uint32_t handle = 0;
  uint32_t child_relid = 0;
  uint32_t byte_count = 0;
  uint32_t byte_offset = 0;
  std::vector<uint64_t> pfns;
};

// Why a header or body was refused. Values double as counter labels.
enum class GpadlRefusal : uint8_t {
  // The handle is already in progress or complete. The existing GPADL is
  // left alone: the guest may be using it.
  DuplicateHandle,
  // rangecount != 1. Linux always sends one range and QEMU refuses others;
  // several ranges would make a GPADL a list of buffers no device uses.
  RangeCount,
  // byte_offset != 0: Linux always sends 0, QEMU refuses others.
  ByteOffset,
  // byte_count does not span exactly the announced pages
  // (ceil((byte_offset + byte_count) / 4096) != PFN count), or both are 0.
  ByteCount,
  // A PFN the guest does not own as RAM; accepting it would let the device
  // read or write VMM or MMIO memory on the guest's behalf.
  PfnOutOfRange,
  // More PFNs than range_buflen announced, or a body after completion.
  PfnOverrun,
  // A body whose handle has no header.
  UnknownHandle,
  // The header announces more than GpadlLimits::max_pfns_per_gpadl pages.
  TooLarge,
  // GpadlLimits::max_gpadls GPADLs (in progress or complete) already exist.
  TableFull,
  // The announced pages would take the table past GpadlLimits::max_total_pfns.
  PfnBudget,
};
inline constexpr size_t kGpadlRefusalCount = 10;

// Label-safe name: lower case, [a-z_].
const char* to_string(GpadlRefusal r);

enum class GpadlStatus : uint8_t { InProgress, Completed, Refused };

struct GpadlUpdate {
  GpadlStatus status = GpadlStatus::Refused;
  // Meaningful only when status == Refused.
  GpadlRefusal refusal = GpadlRefusal::UnknownHandle;
  uint32_t handle = 0;
  // From the header, for a GPADL_CREATED reply (failed or not); 0 when a
  // body named an unknown handle.
  uint32_t child_relid = 0;
  // The finished GPADL when status == Completed; valid until the table is
  // next changed.
  const Gpadl* gpadl = nullptr;
};

enum class TeardownResult : uint8_t { Ok, Unknown };

// Constructor parameters of GpadlTable (a namespace-scope struct so its
// default member initializers can serve as a default argument).
struct GpadlLimits {
  // Pages in one GPADL. The wire itself caps a one-range GPADL at 8190
  // pages (range_buflen is a u16), and Linux's largest, netvsc's receive
  // buffer, is at most 31 MiB = 7936 pages (16 MiB by default), so the
  // default is the wire's maximum and a tighter value only helps a
  // host that offers no netvsc.
  uint32_t max_pfns_per_gpadl = VMBUS_GPADL_MAX_PFNS;
  // GPADLs in progress plus complete. Linux keeps one ring GPADL per open
  // channel (each netvsc sub-channel too: at most 64 per NIC) and two
  // buffers per NIC, so 1024 covers several many-queue NICs, storage and
  // the utility channels, while capping the bookkeeping a guest can make
  // the host hold.
  uint32_t max_gpadls = 1024;
  // Announced pages over all GPADLs, charged when a header is accepted so
  // in-progress GPADLs count too. This is the real memory bound: 8 bytes
  // of host memory per page, so 2^20 pages (4 GiB of guest memory
  // described) cost at most 8 MiB; a guest sending thousands of headers
  // that each announce 8190 pages is stopped after 128 of them instead of
  // pinning 1024 * 64 KiB. Four 64-queue NICs with maximal buffers
  // describe about 2^17 pages.
  uint64_t max_total_pfns = uint64_t{1} << 20;
};

class GpadlTable {
 public:
  using Limits = GpadlLimits;

  // Whether the guest owns `pfn` as RAM. Guest RAM is not one range on x86
  // (the PCI hole splits it), so the bus passes its memory map's answer.
  using PfnCheck = std::function<bool(uint64_t pfn)>;

  explicit GpadlTable(PfnCheck pfn_is_ram, Limits limits = {});
  // RAM as one range of `ram_pages` pages from PFN 0.
  explicit GpadlTable(uint64_t ram_pages, Limits limits = {});

  // A GPADL_HEADER: starts a GPADL, or completes it when the header holds
  // every PFN (26 at most). Nothing is stored when it is refused.
  GpadlUpdate add_header(const GpadlHeader& h);

  // A GPADL_BODY: appends its PFNs, in arrival order, to the GPADL in
  // progress. msgnumber is ignored: Linux 6.1 sends 0 in every body and
  // QEMU ignores it. A refused body discards the GPADL in progress (it can
  // no longer complete validly and its budget is released); a body for a
  // complete GPADL is refused and leaves it untouched.
  GpadlUpdate add_body(const GpadlBody& b);

  // GPADL_TEARDOWN: forgets the GPADL, complete or in progress. The
  // teardown's child_relid is not checked, as in QEMU: Linux tears GPADLs
  // down after CLOSECHANNEL (protocol 4.0 and up), and handles are global.
  // Whether a channel still maps it is the bus's concern.
  TeardownResult teardown(uint32_t handle);

  // A new INITIATE_CONTACT or UNLOAD resets the bus, and every GPADL with it.
  void reset();

  // A complete GPADL, or nullptr (unknown or still in progress).
  const Gpadl* lookup(uint32_t handle) const;

  size_t size() const { return entries_.size(); }
  size_t in_progress() const { return in_progress_; }
  uint64_t reserved_pfns() const { return reserved_pfns_; }
  const Limits& limits() const { return limits_; }

 private:
  struct Entry {
    Gpadl gpadl;
    uint32_t expected_pfns = 0;
    bool complete() const { return gpadl.pfns.size() == expected_pfns; }
  };

  GpadlUpdate refuse(GpadlRefusal r, uint32_t handle, uint32_t child_relid) const;
  GpadlUpdate progress(const Entry& e) const;
  void erase(std::unordered_map<uint32_t, Entry>::iterator it);

  PfnCheck pfn_is_ram_;
  Limits limits_;
  std::unordered_map<uint32_t, Entry> entries_;
  size_t in_progress_ = 0;
  uint64_t reserved_pfns_ = 0;
};

}  // namespace enlight::vmbus
