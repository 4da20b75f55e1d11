// VMBus ring buffers as the host sees them: one channel has two rings in one
// GPADL, the guest-to-host ring (read here with RingReader) and the
// host-to-guest ring (written with RingWriter). Each ring is a 4 KiB header
// page (write_index, read_index, interrupt_mask, pending_send_sz,
// feature_bits; VMBUS_RING_* in enlight/tlfs.h) followed by the data area;
// the indices are byte offsets into the data area.
//
// Everything in guest memory is guest-controlled and can change under our
// feet. So: the indices the guest writes are loaded once per use with an
// atomic load and validated before use; a packet descriptor is copied out
// once and only that copy is validated and handed on; every data access goes
// through RingView, whose copies split at page boundaries and at the end of
// the data area and cannot reach outside the ring's pages whatever offset or
// length they are given.
//
// Sources for each rule (cited at the rule): Linux guest side
// drivers/hv/ring_buffer.c, QEMU's host hw/hyperv/vmbus.c, and OpenVMM's
// host vm/devices/vmbus/vmbus_ring (facts only, no code taken).
#pragma once

#include <enlight/tlfs.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace enlight::vmbus {

static_assert(std::endian::native == std::endian::little,
              "ring fields are little-endian and are copied as host integers");

// Ring pages are always 4 KiB whatever the host page size: the guest builds
// the GPADL from 4 KiB frame numbers (Linux HV_HYP_PAGE_SIZE).
inline constexpr uint32_t kRingPageSize = HV_PAGE_SIZE;
inline constexpr uint32_t kRingPageShift = HV_PAGE_SHIFT;

// The largest data area a RingView accepts. Indices are u32 byte offsets and
// the free-space arithmetic adds a packet length to an index, so the data
// area stays below 2 GiB to keep every such sum inside u32. Linux rings are
// far smaller (netvsc's default is 512 KiB per direction).
inline constexpr uint32_t kMaxRingDataPages = (UINT32_C(1) << 31) / kRingPageSize - 1;

// Largest payload one packet can carry: len8 is a u16 count of 8-byte units
// covering descriptor + padded payload (Linux struct vmpacket_descriptor).
inline constexpr uint32_t kMaxPacketPayload = UINT32_C(0xFFFF) * VMBUS_PACKET_ALIGNMENT - VMBUS_PACKET_DESCRIPTOR_SIZE;

// The outcome of every ring operation. The names (name()) are stable
// snake_case strings meant to be used as a Prometheus label value.
enum class RingStatus : uint8_t {
  Ok,
  // Reader: no packet. Not an error.
  Empty,
  // Writer: not enough free space now. pending_send_sz has been set so the
  // guest signals when enough is freed.
  Full,
  // Reader: the packet is longer than the caller's buffer (the framing is
  // valid; the packet is still there). Writer: the packet can never fit in
  // this ring, or its length does not fit len8.
  TooLarge,
  // RingView construction (a host-side translation problem or a GPADL too
  // short or too long for a ring).
  TooFewPages,
  TooManyPages,
  NullPage,
  UnalignedPage,
  // Corruption: guest-written header values or packet framing that cannot
  // be valid. Nothing was consumed or written.
  WriteIndexOutOfRange,
  WriteIndexUnaligned,
  ReadIndexOutOfRange,
  ReadIndexUnaligned,
  Truncated,           // 1..15 bytes between read_index and write_index
  LengthTooSmall,      // len8 * 8 < 16: not even a descriptor
  OffsetTooSmall,      // offset8 * 8 < 16: data inside the descriptor
  OffsetBeyondLength,  // offset8 > len8
  LengthBeyondData,    // len8 * 8 + trailer > the bytes the writer published
};

std::string_view name(RingStatus s) noexcept;

constexpr bool is_corruption(RingStatus s) noexcept { return s >= RingStatus::WriteIndexOutOfRange; }

// ---- RingView ------------------------------------------------------------

// One ring's memory: the host pointer of each of its 4 KiB guest pages, in
// GPADL order (page 0 the header, pages 1..n the data area). The pages may be
// anywhere in host memory; runs of pages that happen to be adjacent in host
// memory (the usual case: guest RAM is one host mapping and Linux allocates
// a ring as one physically contiguous block) are copied with one memcpy.
class RingView {
 public:
  // Ok, or why `pages` cannot be a ring: fewer than 2 pages, more than
  // kMaxRingDataPages + 1, a null pointer, or a pointer not 4 KiB aligned
  // (a page's host address is always page aligned; anything else is a
  // translation bug, and the header's u32 fields need aligned atomics).
  static RingStatus check(std::span<uint8_t* const> pages) noexcept;

  // Throws std::invalid_argument (with name(check(pages))) unless check()
  // says Ok. Copies the pointer list.
  explicit RingView(std::span<uint8_t* const> pages);

  uint32_t data_size() const noexcept { return size_; }
  uint8_t* header() const noexcept { return header_; }

  // An atomic view of a u32 header field, offset = VMBUS_RING_*_OFFSET.
  std::atomic_ref<uint32_t> field(uint32_t offset) const noexcept {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(header_ + offset));
  }

  // Wrap-around copies between the data area at byte `offset` and host
  // memory. They refuse (return false, copy nothing) unless offset <
  // data_size() and len <= data_size(), so no argument can make them touch
  // memory outside the ring's pages.
  bool read(uint32_t offset, void* dst, uint32_t len) const noexcept;
  bool write(uint32_t offset, const void* src, uint32_t len) const noexcept;

  // The host pointer of [offset, offset + len) when that range lies in one
  // run of host-contiguous pages and does not wrap; nullptr otherwise (then
  // use read()/write()). Lets a packet that is not split be built or copied
  // in place, with fixed-size stores instead of a memcpy call per field.
  uint8_t* contiguous(uint32_t offset, uint32_t len) const noexcept {
    if (offset >= size_) return nullptr;
    const uint32_t page = offset >> kRingPageShift;
    if (run_end_[page] - offset < len) return nullptr;
    return data_[page] + (offset & (kRingPageSize - 1));
  }

  // (offset + delta) mod data_size(), for offset < data_size() and delta <=
  // data_size().
  uint32_t advance(uint32_t offset, uint32_t delta) const noexcept {
    const uint64_t n = uint64_t{offset} + delta;
    return static_cast<uint32_t>(n >= size_ ? n - size_ : n);
  }

  // Bytes from `from` to `to` going forward round the ring (0 when equal).
  uint32_t distance(uint32_t from, uint32_t to) const noexcept { return to >= from ? to - from : size_ - from + to; }

  // Ok, or why a guest-written index cannot be used (out of range or not
  // 8-byte aligned). `write` picks the WriteIndex* or ReadIndex* codes.
  RingStatus check_index(uint32_t index, bool write) const noexcept;

 private:
  uint8_t* header_ = nullptr;
  uint32_t size_ = 0;
  std::vector<uint8_t*> data_;
  // For data page p: the data-area offset where the run of host-contiguous
  // pages containing p ends (at most size_). A copy never crosses it.
  std::vector<uint32_t> run_end_;
};

// ---- Host consumer of the guest-to-host ring -----------------------------

// The packet next() found, from the validated copy of its descriptor.
struct PacketInfo {
  uint16_t type = 0;        // VM_PKT_*
  uint16_t flags = 0;       // VMBUS_DATA_PACKET_FLAG_*
  uint64_t trans_id = 0;
  uint32_t data_offset = 0; // offset8 * 8: where the payload starts
  uint32_t length = 0;      // len8 * 8: descriptor + payload, no trailer
};

// What end_drain() found.
struct DrainEnd {
  bool more = false;          // data arrived: keep draining (begin_drain() again)
  bool signal_guest = false;  // the implied commit() asks for a guest signal
};

class RingReader {
 public:
  // Takes over the ring at the header's current read_index, which must be a
  // valid index (QEMU ringbufs_init fails the open with -EOVERFLOW
  // otherwise). From then on the host's own copy of read_index is the
  // authority: the header field is only published to, never read back.
  static std::optional<RingReader> open(RingView view, RingStatus* status = nullptr);

  // Peeks at the next packet and, when it fits, copies it (descriptor +
  // payload, no trailer) to the start of `buffer`: Ok, Empty, TooLarge (info
  // still filled, so the caller can retry with info.length bytes or drop
  // the packet with consume()), or a corruption code. Peeking again without
  // consuming returns the same packet. On any error nothing is consumed.
  RingStatus next(std::span<uint8_t> buffer, PacketInfo& info);

  // The data of the packet the last Ok/TooLarge next() found, from its data
  // offset to its end (what a device reads: Linux hv_pkt_data), copied from
  // the ring into `dst`. Lets a caller peek with an empty buffer and copy
  // only the data. Returns the bytes copied, or -1 when no packet is peeked
  // or dst is too small (nothing copied).
  int64_t read_data(std::span<uint8_t> dst) const noexcept;

  // Drops the packet of the last Ok/TooLarge next() from the host's copy of
  // read_index (no-op otherwise), without publishing it.
  void advance() noexcept;
  // Publishes read_index to the guest. Returns true when the guest must be
  // signalled: it is blocked on pending_send_sz and this commit freed enough.
  bool commit() noexcept;
  // advance() + commit().
  bool consume() noexcept { advance(); return commit(); }

  // Interrupt-mask protocol (Linux hv_signal_on_write's comment: the host
  // sets interrupt_mask while draining, drains completely, clears it and
  // re-checks). begin_drain() sets the mask; end_drain() commits what was
  // advanced, clears the mask and reports whether the ring still holds data
  // (arrived meanwhile, or peeked and not consumed).
  void begin_drain() noexcept;
  DrainEnd end_drain() noexcept;

  uint32_t read_index() const noexcept { return read_; }
  const RingView& view() const noexcept { return view_; }

 private:
  explicit RingReader(RingView&& view, uint32_t read) : view_(std::move(view)), read_(read), published_(read) {}

  RingView view_;
  uint32_t read_;       // host's read index: next packet
  uint32_t published_;  // last value stored to the header's read_index
  uint32_t peeked_ = 0; // length + trailer of the packet next() returned, 0 if none
  uint32_t peeked_data_ = 0;    // its data offset (validated: >= 16, <= length)
  uint32_t peeked_length_ = 0;  // its length without the trailer
};

// ---- Host producer of the host-to-guest ring -----------------------------

struct OutgoingPacket {
  uint16_t type = VM_PKT_DATA_INBAND;
  uint16_t flags = 0;
  uint64_t trans_id = 0;
  std::span<const uint8_t> payload;
  // Bytes between the descriptor and the payload (a transfer page header
  // with its ranges): a multiple of 8; offset8 then points past them.
  std::span<const uint8_t> extension = {};
};

struct WriteResult {
  RingStatus status = RingStatus::Ok;
  bool signal_guest = false;
};

struct BatchResult {
  size_t written = 0;                  // packets appended and published
  RingStatus status = RingStatus::Ok;  // why packet `written` was not (Ok if all were)
  bool signal_guest = false;
};

class RingWriter {
 public:
  // Takes over the ring at the header's current write_index (must be valid,
  // QEMU ringbufs_init) and announces pending_send_sz support by setting
  // feat_pending_send_sz in this ring's feature_bits: the producer of a ring
  // sets it (OpenVMM OutgoingRing::new "Feature bits are set by the sending
  // side"; QEMU ringbufs_init on its send ring; Linux hv_ringbuffer_init on
  // the rings it produces into), and the consumer (Linux hv_pkt_iter_close)
  // only honours pending_send_sz when it is set.
  static std::optional<RingWriter> open(RingView view, RingStatus* status = nullptr);

  // Bytes a packet with this payload (and descriptor extension) takes in
  // the ring, trailer included.
  static constexpr uint32_t packet_bytes(uint32_t payload, uint32_t extension = 0) noexcept {
    return VMBUS_PACKET_DESCRIPTOR_SIZE + extension +
           ((payload + VMBUS_PACKET_ALIGNMENT - 1) & ~(VMBUS_PACKET_ALIGNMENT - 1)) + VMBUS_PACKET_TRAILER_SIZE;
  }

  // append() + commit().
  WriteResult write(uint16_t type, uint16_t flags, uint64_t trans_id, std::span<const uint8_t> payload);
  WriteResult write(const OutgoingPacket& p) { return write(p.type, p.flags, p.trans_id, p.payload); }

  // Appends packets in order until one does not fit, then publishes them
  // with one write_index store and makes one signal decision.
  BatchResult write_batch(std::span<const OutgoingPacket> packets);

  // Writes one packet after the ones already appended without publishing
  // it: Ok, Full, TooLarge, or ReadIndex* when the guest's read_index is
  // corrupt. On Full, commit() what was appended: the guest cannot free
  // space it cannot see.
  RingStatus append(const OutgoingPacket& p);
  // Publishes everything appended since the last commit. Returns true when
  // the guest must be signalled.
  bool commit() noexcept;

  uint32_t write_index() const noexcept { return write_; }
  const RingView& view() const noexcept { return view_; }

 private:
  explicit RingWriter(RingView&& view, uint32_t write, uint32_t read)
      : view_(std::move(view)), write_(write), published_(write), cached_read_(read) {}

  bool fits(uint32_t total) const noexcept;
  RingStatus reload_read_index() noexcept;

  RingView view_;
  uint32_t write_;            // host's write index: end of the appended packets
  uint32_t published_;        // last value stored to the header's write_index
  uint32_t cached_read_;      // last valid read_index seen; the guest only moves it forward
  bool pending_set_ = false;  // we stored a non-zero pending_send_sz
};

}  // namespace enlight::vmbus
