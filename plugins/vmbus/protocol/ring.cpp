// VMBus ring buffers, host side. Rules and their sources: ring.hpp and the
// comments at each rule below.
#include "protocol/ring.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace enlight::vmbus {

namespace {

constexpr uint32_t kDesc = VMBUS_PACKET_DESCRIPTOR_SIZE;
constexpr uint32_t kTrailer = VMBUS_PACKET_TRAILER_SIZE;
constexpr uint32_t kAlign = VMBUS_PACKET_ALIGNMENT;

template <class T>
T load_le(const uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T>
void store_le(uint8_t* p, T v) noexcept {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace

std::string_view name(RingStatus s) noexcept {
  switch (s) {
    case RingStatus::Ok: return "ok";
    case RingStatus::Empty: return "empty";
    case RingStatus::Full: return "full";
    case RingStatus::TooLarge: return "too_large";
    case RingStatus::TooFewPages: return "too_few_pages";
    case RingStatus::TooManyPages: return "too_many_pages";
    case RingStatus::NullPage: return "null_page";
    case RingStatus::UnalignedPage: return "unaligned_page";
    case RingStatus::WriteIndexOutOfRange: return "write_index_out_of_range";
    case RingStatus::WriteIndexUnaligned: return "write_index_unaligned";
    case RingStatus::ReadIndexOutOfRange: return "read_index_out_of_range";
    case RingStatus::ReadIndexUnaligned: return "read_index_unaligned";
    case RingStatus::Truncated: return "truncated";
    case RingStatus::LengthTooSmall: return "length_too_small";
    case RingStatus::OffsetTooSmall: return "offset_too_small";
    case RingStatus::OffsetBeyondLength: return "offset_beyond_length";
    case RingStatus::LengthBeyondData: return "length_beyond_data";
  }
  return "unknown";
}

// ---- RingView ------------------------------------------------------------

RingStatus RingView::check(std::span<uint8_t* const> pages) noexcept {
  if (pages.size() < 2) return RingStatus::TooFewPages;
  if (pages.size() - 1 > kMaxRingDataPages) return RingStatus::TooManyPages;
  for (uint8_t* p : pages) {
    if (p == nullptr) return RingStatus::NullPage;
    if ((reinterpret_cast<uintptr_t>(p) & (kRingPageSize - 1)) != 0) return RingStatus::UnalignedPage;
  }
  return RingStatus::Ok;
}

RingView::RingView(std::span<uint8_t* const> pages) {
  if (const RingStatus s = check(pages); s != RingStatus::Ok)
    throw std::invalid_argument("vmbus ring pages: " + std::string(name(s)));
  header_ = pages[0];
  data_.assign(pages.begin() + 1, pages.end());
  size_ = static_cast<uint32_t>(data_.size()) * kRingPageSize;
  // Backwards, so each page inherits the end of the run that follows it when
  // the next page starts exactly where it ends in host memory.
  run_end_.resize(data_.size());
  run_end_.back() = size_;
  for (size_t p = data_.size() - 1; p-- > 0;) {
    const bool adjacent = reinterpret_cast<uintptr_t>(data_[p]) + kRingPageSize == reinterpret_cast<uintptr_t>(data_[p + 1]);
    run_end_[p] = adjacent ? run_end_[p + 1] : static_cast<uint32_t>(p + 1) * kRingPageSize;
  }
}

RingStatus RingView::check_index(uint32_t index, bool write) const noexcept {
  if (index >= size_) return write ? RingStatus::WriteIndexOutOfRange : RingStatus::ReadIndexOutOfRange;
  if (index % kAlign != 0) return write ? RingStatus::WriteIndexUnaligned : RingStatus::ReadIndexUnaligned;
  return RingStatus::Ok;
}

// One memcpy per run of host-contiguous pages, split again where the data
// area wraps (the guest maps the data area twice so it never splits: Linux
// hv_ringbuffer_init's vmap; a host that maps pages one by one splits like
// QEMU ringbuf_io / gpadl_iter_io and OpenVMM PagedRingMem).
bool RingView::read(uint32_t offset, void* dst, uint32_t len) const noexcept {
  if (offset >= size_ || len > size_) return false;
  auto* out = static_cast<uint8_t*>(dst);
  while (len != 0) {
    const uint32_t page = offset >> kRingPageShift;
    const uint32_t chunk = std::min(run_end_[page] - offset, len);
    std::memcpy(out, data_[page] + (offset & (kRingPageSize - 1)), chunk);
    out += chunk;
    len -= chunk;
    offset += chunk;
    if (offset == size_) offset = 0;
  }
  return true;
}

bool RingView::write(uint32_t offset, const void* src, uint32_t len) const noexcept {
  if (offset >= size_ || len > size_) return false;
  const auto* in = static_cast<const uint8_t*>(src);
  while (len != 0) {
    const uint32_t page = offset >> kRingPageShift;
    const uint32_t chunk = std::min(run_end_[page] - offset, len);
    std::memcpy(data_[page] + (offset & (kRingPageSize - 1)), in, chunk);
    in += chunk;
    len -= chunk;
    offset += chunk;
    if (offset == size_) offset = 0;
  }
  return true;
}

// ---- RingReader ------------------------------------------------------------

std::optional<RingReader> RingReader::open(RingView view, RingStatus* status) {
  const uint32_t read = view.field(VMBUS_RING_READ_INDEX_OFFSET).load(std::memory_order_acquire);
  const RingStatus s = view.check_index(read, false);
  if (status != nullptr) *status = s;
  if (s != RingStatus::Ok) return std::nullopt;
  return RingReader(std::move(view), read);
}

RingStatus RingReader::next(std::span<uint8_t> buffer, PacketInfo& info) {
  peeked_ = 0;
  // Acquire pairs with the guest's barrier before its write_index store
  // (Linux hv_ringbuffer_write: virt_mb() then the store), so the packet
  // bytes below are at least those the guest published.
  const uint32_t write = view_.field(VMBUS_RING_WRITE_INDEX_OFFSET).load(std::memory_order_acquire);
  // OpenVMM InnerRing::validate refuses an index out of range or not 8-byte
  // aligned; QEMU vmbus_channel_recv_start refuses one out of range.
  if (const RingStatus s = view_.check_index(write, true); s != RingStatus::Ok) return s;
  const uint32_t avail = view_.distance(read_, write);
  if (avail == 0) return RingStatus::Empty;
  // The guest publishes whole packets only, and the smallest is a
  // descriptor plus its trailer, so a shorter gap is corruption (OpenVMM
  // IncomingRing::read: InvalidDataAvailable); Linux hv_pkt_iter_first
  // would only call it empty.
  if (avail < kDesc) return RingStatus::Truncated;

  // One copy of the descriptor, validated and used from then on; the guest
  // may rewrite the ring meanwhile (Linux hv_pkt_iter_first reads len8 and
  // offset8 once with READ_ONCE and writes the checked values into its own
  // copy for the same reason).
  uint8_t desc[kDesc];
  if (const uint8_t* d = view_.contiguous(read_, kDesc))
    std::memcpy(desc, d, kDesc);
  else
    view_.read(read_, desc, kDesc);
  const uint32_t length = uint32_t{load_le<uint16_t>(desc + VMBUS_PACKET_LEN8_OFFSET)} * kAlign;
  const uint32_t offset = uint32_t{load_le<uint16_t>(desc + VMBUS_PACKET_OFFSET8_OFFSET)} * kAlign;
  // The bounds of Linux hv_pkt_iter_first (which clamps instead of failing),
  // QEMU vmbus_channel_recv_peek ("malformed packet") and OpenVMM
  // parse_packet (InvalidDescriptorLengths).
  if (length < kDesc) return RingStatus::LengthTooSmall;
  if (offset < kDesc) return RingStatus::OffsetTooSmall;
  if (offset > length) return RingStatus::OffsetBeyondLength;
  // The trailer is part of what the writer must have published (QEMU
  // vmbus_channel_recv_peek: totlen = pktlen + trailer > avail fails).
  if (uint64_t{length} + kTrailer > avail) return RingStatus::LengthBeyondData;

  info.type = load_le<uint16_t>(desc + VMBUS_PACKET_TYPE_OFFSET);
  info.flags = load_le<uint16_t>(desc + VMBUS_PACKET_FLAGS_OFFSET);
  info.trans_id = load_le<uint64_t>(desc + VMBUS_PACKET_TRANS_ID_OFFSET);
  info.data_offset = offset;
  info.length = length;
  peeked_ = length + kTrailer;
  peeked_data_ = offset;
  peeked_length_ = length;
  // Too large for the caller: report it and leave it in the ring. The
  // framing is sound, so this is the caller's policy decision, not
  // corruption: retry with a bigger buffer (as after Linux
  // hv_ringbuffer_read's -ENOBUFS, which reports the needed length and does
  // not advance) or drop it with consume().
  if (length > buffer.size()) return RingStatus::TooLarge;
  if (const uint8_t* p = view_.contiguous(read_, length)) {
    std::memcpy(buffer.data(), p, length);
  } else {
    view_.read(view_.advance(read_, kDesc), buffer.data() + kDesc, length - kDesc);
  }
  // Our validated descriptor, not whatever the ring holds now.
  std::memcpy(buffer.data(), desc, kDesc);
  return RingStatus::Ok;
}

int64_t RingReader::read_data(std::span<uint8_t> dst) const noexcept {
  if (peeked_ == 0) return -1;
  const uint32_t n = peeked_length_ - peeked_data_;
  if (dst.size() < n) return -1;
  // length <= the published bytes < data size, so the offset is inside the
  // data area and the copy cannot pass the packet.
  if (n != 0 && !view_.read(view_.advance(read_, peeked_data_), dst.data(), n)) return -1;
  return n;
}

void RingReader::advance() noexcept {
  if (peeked_ == 0) return;
  // The trailer is skipped unread, as every reader does (Linux
  // __hv_pkt_iter_next, QEMU vmbus_channel_recv_peek, OpenVMM read).
  read_ = view_.advance(read_, peeked_);
  peeked_ = 0;
}

bool RingReader::commit() noexcept {
  if (read_ == published_) return false;
  const uint32_t start = published_;
  // Release: our reads of the packets happen before the guest may reuse
  // their space (QEMU vmbus_channel_recv_done barrier [B]; Linux
  // hv_pkt_iter_close virt_rmb()).
  view_.field(VMBUS_RING_READ_INDEX_OFFSET).store(read_, std::memory_order_release);
  published_ = read_;

  // Flow control (Linux hv_pkt_iter_close, the same rule on the guest's
  // side; QEMU vmbus_channel_recv_done): only when this ring's producer,
  // the guest, set feat_pending_send_sz (Linux hv_ringbuffer_init sets it
  // on its rings). interrupt_mask plays no part: it is the host's own
  // "don't signal me" on this ring (Linux's comment above
  // hv_pkt_iter_close). QEMU also skips when it is set, which is harmless
  // there because QEMU never sets it; here the drain protocol does.
  if ((view_.field(VMBUS_RING_FEATURE_BITS_OFFSET).load(std::memory_order_relaxed) &
       VMBUS_RING_BUFFER_FEAT_PENDING_SZ) == 0)
    return false;
  // Full barrier between the read_index store and the pending_send_sz
  // load, or a guest setting pending_send_sz after we sampled it and before
  // it sees our store would wait forever (Linux hv_pkt_iter_close virt_mb();
  // QEMU barrier [A]).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint32_t pending = view_.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).load(std::memory_order_relaxed);
  if (pending == 0) return false;
  // write_index after pending_send_sz (Linux virt_rmb(); QEMU [D]).
  const uint32_t write = view_.field(VMBUS_RING_WRITE_INDEX_OFFSET).load(std::memory_order_acquire);
  if (view_.check_index(write, true) != RingStatus::Ok) return false;
  // Free space as the guest counts it (Linux hv_get_bytes_to_write): the
  // data size minus the unread bytes.
  const uint32_t free_now = view_.data_size() - view_.distance(read_, write);
  const uint32_t freed = view_.distance(start, read_);
  if (freed > free_now) return false;  // only with a write_index the guest moved backwards
  // Signal on the transition from "not enough" to "enough" only. Exactly
  // the requested space counts as not enough: the writer may never fill
  // the ring completely (Linux hv_pkt_iter_close: no signal if
  // curr_write_sz - bytes_read > pending_sz or curr_write_sz <= pending_sz).
  const uint32_t free_before = free_now - freed;
  return free_before <= pending && free_now > pending;
}

void RingReader::begin_drain() noexcept {
  view_.field(VMBUS_RING_INTERRUPT_MASK_OFFSET).store(1, std::memory_order_seq_cst);
}

DrainEnd RingReader::end_drain() noexcept {
  DrainEnd end;
  // Publish first: the guest signals only when it finds its previous
  // write_index equal to read_index (Linux hv_signal_on_write), so a
  // read_index left behind would make it never signal again. A packet
  // peeked but not consumed stays in the ring and makes `more` true.
  end.signal_guest = commit();
  // Clear the mask, then look again: a packet the guest wrote while the
  // mask was still set came without a signal (Linux hv_signal_on_write's
  // comment, point 2). The seq_cst store and load keep that order.
  view_.field(VMBUS_RING_INTERRUPT_MASK_OFFSET).store(0, std::memory_order_seq_cst);
  const uint32_t write = view_.field(VMBUS_RING_WRITE_INDEX_OFFSET).load(std::memory_order_seq_cst);
  // A corrupt write_index also counts as "more": next() reports it.
  end.more = write != read_;
  return end;
}

// ---- RingWriter ------------------------------------------------------------

std::optional<RingWriter> RingWriter::open(RingView view, RingStatus* status) {
  const uint32_t write = view.field(VMBUS_RING_WRITE_INDEX_OFFSET).load(std::memory_order_relaxed);
  const uint32_t read = view.field(VMBUS_RING_READ_INDEX_OFFSET).load(std::memory_order_acquire);
  RingStatus s = view.check_index(write, true);
  if (s == RingStatus::Ok) s = view.check_index(read, false);
  if (status != nullptr) *status = s;
  if (s != RingStatus::Ok) return std::nullopt;
  view.field(VMBUS_RING_FEATURE_BITS_OFFSET).fetch_or(VMBUS_RING_BUFFER_FEAT_PENDING_SZ, std::memory_order_relaxed);
  // Start with no space requested (OpenVMM OutgoingRing::new).
  view.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).store(0, std::memory_order_relaxed);
  return RingWriter(std::move(view), write, read);
}

// A packet of `total` bytes fits only if it leaves at least one byte free:
// a full ring would have write_index == read_index, which reads as empty
// (Linux hv_ringbuffer_write: bytes_avail_towrite <= totalbytes_towrite is
// -EAGAIN; QEMU rb_idx_delta(..., allow_catchup=false)). Packets are 8-byte
// multiples, so in practice 8 bytes stay free.
bool RingWriter::fits(uint32_t total) const noexcept {
  const uint32_t free = view_.data_size() - view_.distance(cached_read_, write_);
  return free > total;
}

RingStatus RingWriter::reload_read_index() noexcept {
  const uint32_t read = view_.field(VMBUS_RING_READ_INDEX_OFFSET).load(std::memory_order_seq_cst);
  const RingStatus s = view_.check_index(read, false);
  if (s == RingStatus::Ok) cached_read_ = read;
  return s;
}

RingStatus RingWriter::append(const OutgoingPacket& p) {
  if (p.extension.size() % kAlign != 0 || p.extension.size() > kMaxPacketPayload ||
      p.payload.size() > kMaxPacketPayload - p.extension.size())
    return RingStatus::TooLarge;
  const auto payload = static_cast<uint32_t>(p.payload.size());
  const auto ext = static_cast<uint32_t>(p.extension.size());
  const uint32_t total = packet_bytes(payload, ext);
  if (total >= view_.data_size()) return RingStatus::TooLarge;

  // The cached read_index only underestimates the free space (the guest
  // only moves it forward), so the guest's header line is read only when
  // the cached value says "full" (QEMU vmbus_channel_reserve, OpenVMM
  // OutgoingRing::write).
  if (!fits(total)) {
    if (const RingStatus s = reload_read_index(); s != RingStatus::Ok) return s;
    if (!fits(total)) {
      // Ask the guest to signal once there is room (Linux hv_pkt_iter_close
      // signals when its free space, counted from the published
      // write_index, grows past pending_send_sz), counting what we appended
      // but have not published yet.
      const uint32_t pending = total + view_.distance(published_, write_);
      view_.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).store(pending, std::memory_order_seq_cst);
      pending_set_ = true;
      // Look once more after the store: the guest may have freed the space
      // before it could see pending_send_sz (QEMU vmbus_channel_reserve,
      // barrier [A]).
      if (const RingStatus s = reload_read_index(); s != RingStatus::Ok) return s;
      if (!fits(total)) return RingStatus::Full;
    }
  }
  if (pending_set_) {
    // QEMU vmbus_channel_reserve: clear pending_send_sz once it is met.
    view_.field(VMBUS_RING_PENDING_SEND_SZ_OFFSET).store(0, std::memory_order_relaxed);
    pending_set_ = false;
  }

  const uint32_t padded = total - kDesc - ext - kTrailer;
  const uint32_t head = kDesc + ext;  // where the payload starts
  uint8_t desc[kDesc];
  store_le<uint16_t>(desc + VMBUS_PACKET_TYPE_OFFSET, p.type);
  // offset8: the payload follows the descriptor and its extension (QEMU
  // vmbus_pkt_hdr_set_offsets; 2 when there is no extension).
  store_le<uint16_t>(desc + VMBUS_PACKET_OFFSET8_OFFSET, static_cast<uint16_t>(head / kAlign));
  store_le<uint16_t>(desc + VMBUS_PACKET_LEN8_OFFSET, static_cast<uint16_t>((head + padded) / kAlign));
  store_le<uint16_t>(desc + VMBUS_PACKET_FLAGS_OFFSET, p.flags);
  store_le<uint64_t>(desc + VMBUS_PACKET_TRANS_ID_OFFSET, p.trans_id);
  // Padding is zeroed (never leave stale host or ring bytes for the guest
  // to see). The trailer holds the packet's start offset in its high 32
  // bits (Linux hv_ringbuffer_write's prev_indices; OpenVMM Footer.offset);
  // readers skip it.
  const uint32_t pad = padded - payload;
  const uint64_t trailer = uint64_t{write_} << 32;
  if (uint8_t* out = view_.contiguous(write_, total)) {
    // The whole packet in one run: the usual case for a contiguous ring.
    std::memcpy(out, desc, kDesc);
    if (ext != 0) std::memcpy(out + kDesc, p.extension.data(), ext);
    if (pad != 0) std::memset(out + head + padded - kAlign, 0, kAlign);  // before the payload overwrites its part
    if (payload != 0) std::memcpy(out + head, p.payload.data(), payload);
    std::memcpy(out + head + padded, &trailer, kTrailer);
  } else {
    view_.write(write_, desc, kDesc);
    uint32_t at = view_.advance(write_, kDesc);
    if (ext != 0) {
      view_.write(at, p.extension.data(), ext);
      at = view_.advance(at, ext);
    }
    if (payload != 0) {
      view_.write(at, p.payload.data(), payload);
      at = view_.advance(at, payload);
    }
    uint8_t tail[kAlign - 1 + kTrailer] = {};
    store_le<uint64_t>(tail + pad, trailer);
    view_.write(at, tail, pad + kTrailer);
  }
  write_ = view_.advance(write_, total);
  return RingStatus::Ok;
}

bool RingWriter::commit() noexcept {
  if (write_ == published_) return false;
  const uint32_t old = published_;
  // seq_cst: a release for the packet bytes, and a full barrier before the
  // interrupt_mask and read_index loads, so the guest either sees our
  // write_index or we see its read_index (Linux hv_signal_on_write's
  // virt_mb(); QEMU ringbuf_send_update_idx barrier [C] then [A]).
  view_.field(VMBUS_RING_WRITE_INDEX_OFFSET).store(write_, std::memory_order_seq_cst);
  published_ = write_;
  // The guest masks while it polls (Linux hv_begin_read).
  if (view_.field(VMBUS_RING_INTERRUPT_MASK_OFFSET).load(std::memory_order_seq_cst) != 0) return false;
  const uint32_t read = view_.field(VMBUS_RING_READ_INDEX_OFFSET).load(std::memory_order_seq_cst);
  if (view_.check_index(read, false) == RingStatus::Ok) cached_read_ = read;
  // Signal on empty -> non-empty only: the guest had read everything up to
  // our previous write_index (Linux hv_signal_on_write: old_write ==
  // read_index; OpenVMM OutgoingRing::commit_write; QEMU
  // ringbuf_send_update_idx also signals when the guest already read part
  // of this batch, which is a wakeup it does not need).
  return read == old;
}

WriteResult RingWriter::write(uint16_t type, uint16_t flags, uint64_t trans_id, std::span<const uint8_t> payload) {
  WriteResult r;
  r.status = append(OutgoingPacket{type, flags, trans_id, payload});
  if (r.status == RingStatus::Ok) r.signal_guest = commit();
  return r;
}

BatchResult RingWriter::write_batch(std::span<const OutgoingPacket> packets) {
  BatchResult r;
  for (const OutgoingPacket& p : packets) {
    r.status = append(p);
    if (r.status != RingStatus::Ok) break;
    ++r.written;
  }
  r.signal_guest = commit();
  return r;
}

}  // namespace enlight::vmbus
