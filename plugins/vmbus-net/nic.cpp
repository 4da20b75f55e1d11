#include "nic.hpp"

#include "protocol/rndis.hpp"
#include "protocol/wire.hpp"

#include <enlight/tlfs.h>

#include <algorithm>
#include <cstring>

namespace enlight::vmbus_net {
namespace {

// The guest packets read whole: a page, room for a GPA_DIRECT descriptor
// with far more page buffers than MAX_PAGE_BUFFER_COUNT, so such a packet is
// read and answered FAIL (Drop::BadGpa) rather than dropped unanswered;
// anything longer is no netvsc packet.
constexpr uint32_t kMaxGuestPacket = HV_PAGE_SIZE;
constexpr uint32_t kMaxTxBytes = kSendSectionSize + MAX_PAGE_BUFFER_COUNT * HV_PAGE_SIZE;
constexpr Mac kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// Where a whole packet's data starts: the descriptor's offset8, which the
// bus's ring reader checked (16 <= offset8 * 8 <= length).
uint32_t data_offset_of(std::span<const uint8_t> packet) {
  return wire::load<uint16_t>(packet, VMBUS_PACKET_OFFSET8_OFFSET) * VMBUS_PACKET_ALIGNMENT;
}

bool completion_requested(const enlight_vmbus_packet& info) {
  return (info.flags & VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED) != 0;
}

}  // namespace

const char* drop_name(Drop d) noexcept {
  switch (d) {
    case Drop::MalformedNvsp: return "malformed_nvsp";
    case Drop::MalformedRndis: return "malformed_rndis";
    case Drop::BadSection: return "bad_section";
    case Drop::BadGpa: return "bad_gpa";
    case Drop::Oversize: return "oversize";
    case Drop::UnknownCompletion: return "unknown_completion";
    case Drop::NoReceiveBuffer: return "no_receive_buffer";
    case Drop::RingFull: return "ring_full";
    case Drop::Filtered: return "filtered";
    case Drop::Backend: return "backend";
    case Drop::NotReady: return "not_ready";
    case Drop::kCount: break;
  }
  return "unknown";
}

Nic::Nic(const NicConfig& config, NicBus& bus, FrameSink& sink, NicObserver* observer)
    : config_(config), bus_(bus), sink_(sink), observer_(observer), packet_(kMaxGuestPacket), tx_(kMaxTxBytes) {}

void Nic::drop(Drop reason) {
  ++counts_.dropped[static_cast<size_t>(reason)];
  if (observer_ != nullptr) observer_->dropped(reason);
}

void Nic::forget_receive_buffer() {
  has_receive_ = false;
  receive_sections_ = 0;
  free_sections_.clear();
  next_section_.clear();
  slots_.clear();
  free_slots_.clear();
  batch_count_ = 0;
  batch_first_ = batch_last_ = kNone;
  stalled_ = false;
}

void Nic::reset() {
  forget_receive_buffer();
  version_ = 0;
  has_send_ = false;
  send_sections_ = 0;
  rndis_ready_ = false;
  filter_ = 0;
  connect_indicated_ = false;
}

void Nic::on_open() { reset_pending_.store(true); }

void Nic::on_close() { reset_pending_.store(true); }

void Nic::apply_pending_reset() {
  if (reset_pending_.exchange(false)) reset();
}

bool Nic::on_notify() {
  std::lock_guard<std::mutex> guard(lock_);
  apply_pending_reset();
  const bool was_stalled = stalled_;
  for (;;) {
    enlight_vmbus_packet info{};
    const enlight_vmbus_result r = bus_.recv_packet(packet_, info);
    if (r == ENLIGHT_VMBUS_TOO_LARGE) {
      bus_.recv_drop();
      drop(Drop::MalformedNvsp);
      continue;
    }
    if (r != ENLIGHT_VMBUS_OK) break;  // empty, closed or corrupt (the bus counts that)
    const std::span<const uint8_t> packet(packet_.data(), info.length);
    const auto data = packet.subspan(data_offset_of(packet));
    switch (info.type) {
      case VM_PKT_COMP: handle_completion(data, info.transaction_id); break;
      case VM_PKT_DATA_INBAND:
      case VM_PKT_DATA_USING_GPA_DIRECT: handle_inband(packet, info); break;
      default: drop(Drop::MalformedNvsp); break;
    }
  }
  // Completions and room freed by the guest: a stalled batch may go now.
  if (stalled_) flush();
  return was_stalled && !stalled_;
}

void Nic::complete(const enlight_vmbus_packet& info, const NvspBytes& reply) {
  if (!completion_requested(info)) return;
  // A full ring loses this completion; the guest's own time-out (Linux
  // waits on its request) is all that can follow, as on Hyper-V.
  bus_.send(VM_PKT_COMP, 0, info.transaction_id, {}, reply);
}

void Nic::handle_inband(std::span<const uint8_t> packet, const enlight_vmbus_packet& info) {
  const NvspParse parsed = parse_nvsp(packet.subspan(data_offset_of(packet)));
  if (!parsed.message) {
    drop(Drop::MalformedNvsp);
    return;
  }
  const NvspMessage& m = *parsed.message;
  if (const auto* init = std::get_if<NvspInit>(&m)) {
    const auto v = negotiate_nvsp(init->min_version, init->max_version);
    if (v) version_ = *v;
    complete(info, nvsp_init_complete(v.value_or(init->max_version), v ? NVSP_STAT_SUCCESS : NVSP_STAT_FAIL));
  } else if (const auto* b = std::get_if<NvspBuffer>(&m)) {
    if (b->receive)
      set_receive_buffer(*b, info);
    else
      set_send_buffer(*b, info);
  } else if (const auto* rv = std::get_if<NvspRevoke>(&m)) {
    // Linux revokes on teardown without waiting for an answer.
    if (rv->receive)
      forget_receive_buffer();
    else
      has_send_ = false;
  } else if (const auto* p = std::get_if<NvspRndisPacket>(&m)) {
    uint32_t status = NVSP_STAT_FAIL;
    if (const uint32_t n = gather(*p, packet, info); n != 0) status = handle_rndis({tx_.data(), n});
    complete(info, nvsp_rndis_packet_complete(status));
    flush();  // control replies queued by handle_rndis
  } else if (std::holds_alternative<NvspRndisPacketComplete>(m)) {
    // Completions come as VM_PKT_COMP packets, never in-band.
    drop(Drop::MalformedNvsp);
  }
  // NDIS config and version carry nothing this host acts on; the ignored
  // NVSP 4/5 types ask for features (VF, subchannels) it never offered.
}

void Nic::set_receive_buffer(const NvspBuffer& b, const enlight_vmbus_packet& info) {
  uint64_t bytes = 0;
  const bool ok = !has_receive_ && b.id == NETVSC_RECEIVE_BUFFER_ID && bus_.gpadl_size(b.gpadl, bytes) &&
                  bytes >= kReceiveSectionSize;
  if (!ok) {
    complete(info, nvsp_recv_buf_complete(NVSP_STAT_FAIL, 0, 0));
    return;
  }
  const auto count = static_cast<uint32_t>(std::min<uint64_t>(bytes / kReceiveSectionSize, kMaxReceiveSections));
  receive_gpadl_ = b.gpadl;
  receive_sections_ = count;
  free_sections_.resize(count);
  // Popped from the back: section 0 first.
  for (uint32_t i = 0; i < count; ++i) free_sections_[i] = count - 1 - i;
  next_section_.assign(count, kNone);
  // One slot per section is enough: every packet holds at least one.
  slots_.assign(count, Slot{});
  free_slots_.resize(count);
  for (uint32_t i = 0; i < count; ++i) free_slots_[i] = count - 1 - i;
  has_receive_ = true;
  complete(info, nvsp_recv_buf_complete(NVSP_STAT_SUCCESS, kReceiveSectionSize, count));
}

void Nic::set_send_buffer(const NvspBuffer& b, const enlight_vmbus_packet& info) {
  uint64_t bytes = 0;
  const bool ok = !has_send_ && bus_.gpadl_size(b.gpadl, bytes) && bytes >= kSendSectionSize;
  if (!ok) {
    complete(info, nvsp_send_buf_complete(NVSP_STAT_FAIL, 0));
    return;
  }
  send_gpadl_ = b.gpadl;
  send_sections_ = static_cast<uint32_t>(std::min<uint64_t>(bytes / kSendSectionSize, UINT32_MAX - 1));
  has_send_ = true;
  complete(info, nvsp_send_buf_complete(NVSP_STAT_SUCCESS, kSendSectionSize));
}

uint32_t Nic::gather(const NvspRndisPacket& p, std::span<const uint8_t> packet, const enlight_vmbus_packet& info) {
  uint32_t used = 0;
  if (p.section_index != NETVSC_INVALID_INDEX) {
    if (!has_send_ || p.section_index >= send_sections_ || p.section_size == 0 || p.section_size > kSendSectionSize) {
      drop(Drop::BadSection);
      return 0;
    }
    if (!bus_.gpadl_read(send_gpadl_, uint64_t{p.section_index} * kSendSectionSize, {tx_.data(), p.section_size})) {
      drop(Drop::BadSection);
      return 0;
    }
    used = p.section_size;
  }
  if (info.type == VM_PKT_DATA_USING_GPA_DIRECT) {
    const auto buffers = parse_page_buffers(packet, data_offset_of(packet));
    if (!buffers || buffers->total > tx_.size() - used) {
      drop(Drop::BadGpa);
      return 0;
    }
    for (uint32_t i = 0; i < buffers->count; ++i) {
      const PageBuffer& b = buffers->buffers[i];
      if (!bus_.gpa_read(b.pfn * HV_PAGE_SIZE + b.offset, {tx_.data() + used, b.length})) {
        drop(Drop::BadGpa);
        return 0;
      }
      used += b.length;
    }
  } else if (used == 0) {
    drop(Drop::BadSection);  // in-band, and no section named
    return 0;
  }
  return used;
}

uint32_t Nic::handle_rndis(std::span<const uint8_t> bytes) {
  RndisStream stream(bytes);
  bool bad = false;
  while (const auto m = stream.next()) {
    if (m->type == RNDIS_MSG_PACKET) {
      const auto frame = rndis_packet_frame(*m);
      if (!frame) {
        drop(Drop::MalformedRndis);
        bad = true;
      } else if (frame->size() > kMaxFrame || frame->size() < kMinFrame) {
        drop(Drop::Oversize);
      } else if (!sink_.transmit(*frame)) {
        drop(Drop::Backend);
      } else {
        ++counts_.tx_frames;
        counts_.tx_bytes += frame->size();
        if (observer_ != nullptr) observer_->tx(frame->size());
      }
    } else if (!handle_control(m->type, m->bytes)) {
      drop(Drop::MalformedRndis);
      bad = true;
    }
  }
  if (stream.malformed()) {
    drop(Drop::MalformedRndis);
    bad = true;
  }
  return bad ? NVSP_STAT_FAIL : NVSP_STAT_SUCCESS;
}

bool Nic::handle_control(uint32_t type, std::span<const uint8_t> bytes) {
  const RndisMessage m{type, bytes};
  switch (type) {
    case RNDIS_MSG_INIT: {
      const auto init = parse_rndis_init(m);
      if (!init) return false;
      rndis_ready_ = true;
      const uint32_t n =
          rndis_init_complete(reply_, init->request_id, kMaxPacketsPerMessage, kSendSectionSize, kAlignmentLog2);
      queue(NVSP_RNDIS_CHANNEL_TYPE_CONTROL, {reply_.data(), n});
      return true;
    }
    case RNDIS_MSG_QUERY:
    case RNDIS_MSG_SET: {
      const auto req = parse_rndis_oid_request(m);
      if (!req) return false;
      if (type == RNDIS_MSG_QUERY)
        answer_query(req->request_id, req->oid, req->info);
      else
        answer_set(req->request_id, req->oid, req->info);
      return true;
    }
    case RNDIS_MSG_KEEPALIVE: {
      const auto id = parse_rndis_request_id(m);
      if (!id) return false;
      const uint32_t n = rndis_status_complete(reply_, RNDIS_MSG_KEEPALIVE_C, *id, RNDIS_STATUS_SUCCESS);
      queue(NVSP_RNDIS_CHANNEL_TYPE_CONTROL, {reply_.data(), n});
      return true;
    }
    case RNDIS_MSG_RESET: {
      // RESET_C is {status, addressing_reset}: both zero, which is the
      // SET_C layout with request id and status 0. Linux ignores it.
      const uint32_t n = rndis_status_complete(reply_, RNDIS_MSG_RESET_C, 0, RNDIS_STATUS_SUCCESS);
      filter_ = 0;
      queue(NVSP_RNDIS_CHANNEL_TYPE_CONTROL, {reply_.data(), n});
      return true;
    }
    case RNDIS_MSG_HALT:
      // No answer (Linux rndis_filter_halt_device does not wait for one).
      rndis_ready_ = false;
      filter_ = 0;
      return true;
    default: return false;
  }
}

void Nic::answer_query(uint32_t request_id, uint32_t oid, std::span<const uint8_t> info) {
  std::array<uint8_t, NDIS_OFFLOAD_SIZE> value{};
  uint32_t size = 0;
  uint32_t status = RNDIS_STATUS_SUCCESS;
  auto put32 = [&](uint32_t v) {
    wire::store<uint32_t>(value, 0, v);
    size = 4;
  };
  switch (oid) {
    case RNDIS_OID_802_3_PERMANENT_ADDRESS:
    case RNDIS_OID_802_3_CURRENT_ADDRESS:
      std::memcpy(value.data(), config_.mac.data(), config_.mac.size());
      size = static_cast<uint32_t>(config_.mac.size());
      break;
    case RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE: put32(kMtu); break;
    case RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE: put32(kMaxFrame); break;
    case RNDIS_OID_GEN_MEDIA_CONNECT_STATUS: put32(NDIS_MEDIA_STATE_CONNECTED); break;
    case RNDIS_OID_GEN_LINK_SPEED: put32(kLinkSpeed); break;
    case RNDIS_OID_GEN_CURRENT_PACKET_FILTER: put32(filter_); break;
    case OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES: {
      // The revision and size the guest asked with (rndis_query_hwcaps
      // refuses a size above it), within what this host knows; all
      // capabilities zero: no checksum, LSO or RSC offload.
      uint32_t revision = NDIS_OFFLOAD_PARAMETERS_REVISION_1, asked = NDIS_OFFLOAD_SIZE_6_0;
      if (info.size() >= 4 && info[NDIS_OBJECT_HEADER_TYPE_OFFSET] == NDIS_OBJECT_TYPE_OFFLOAD) {
        revision = std::clamp<uint32_t>(info[NDIS_OBJECT_HEADER_REVISION_OFFSET], NDIS_OFFLOAD_PARAMETERS_REVISION_1,
                                        NDIS_OFFLOAD_PARAMETERS_REVISION_3);
        asked = std::clamp<uint32_t>(wire::load<uint16_t>(info, NDIS_OBJECT_HEADER_SIZE_OFFSET), NDIS_OFFLOAD_SIZE_6_0,
                                     NDIS_OFFLOAD_SIZE);
      }
      value[NDIS_OBJECT_HEADER_TYPE_OFFSET] = NDIS_OBJECT_TYPE_OFFLOAD;
      value[NDIS_OBJECT_HEADER_REVISION_OFFSET] = static_cast<uint8_t>(revision);
      wire::store<uint16_t>(value, NDIS_OBJECT_HEADER_SIZE_OFFSET, static_cast<uint16_t>(asked));
      size = asked;
      break;
    }
    default:
      // Not supported, with no data: Linux's rndis_filter_query_device does
      // not look at the status, only at the lengths (RSS capabilities then
      // read as "one queue").
      status = RNDIS_STATUS_NOT_SUPPORTED;
      break;
  }
  const uint32_t n = rndis_query_complete(reply_, request_id, status, {value.data(), size});
  queue(NVSP_RNDIS_CHANNEL_TYPE_CONTROL, {reply_.data(), n});
}

void Nic::answer_set(uint32_t request_id, uint32_t oid, std::span<const uint8_t> info) {
  uint32_t status = RNDIS_STATUS_SUCCESS;
  bool announce = false;
  switch (oid) {
    case RNDIS_OID_GEN_CURRENT_PACKET_FILTER:
      if (info.size() != 4) {
        status = RNDIS_STATUS_INVALID_LENGTH;
        break;
      }
      filter_ = wire::u32(info, 0);
      announce = filter_ != 0 && !connect_indicated_;
      break;
    case OID_TCP_OFFLOAD_PARAMETERS:
      // Nothing was offered, so nothing can be switched on; Linux fails
      // its probe if this SET fails ("Fail to set offload on host side").
      break;
    default: status = RNDIS_STATUS_NOT_SUPPORTED; break;
  }
  uint32_t n = rndis_status_complete(reply_, RNDIS_MSG_SET_C, request_id, status);
  queue(NVSP_RNDIS_CHANNEL_TYPE_CONTROL, {reply_.data(), n});
  if (announce) {
    // The link is up from the start (Linux's link_state starts at 0); the
    // indication tells a guest that asked what OpenVMM tells it.
    connect_indicated_ = true;
    n = rndis_indicate_status(reply_, RNDIS_STATUS_MEDIA_CONNECT);
    queue(NVSP_RNDIS_CHANNEL_TYPE_CONTROL, {reply_.data(), n});
  }
}

bool Nic::accepts(std::span<const uint8_t> frame) const noexcept {
  if ((filter_ & NDIS_PACKET_TYPE_PROMISCUOUS) != 0) return true;
  Mac dest;
  std::memcpy(dest.data(), frame.data(), dest.size());
  if (dest == kBroadcast) return (filter_ & NDIS_PACKET_TYPE_BROADCAST) != 0;
  if ((dest[0] & 1) != 0) return (filter_ & (NDIS_PACKET_TYPE_ALL_MULTICAST | NDIS_PACKET_TYPE_MULTICAST)) != 0;
  return dest == config_.mac && (filter_ & NDIS_PACKET_TYPE_DIRECTED) != 0;
}

void Nic::deliver(std::span<const uint8_t> frame) {
  apply_pending_reset();
  if (!has_receive_ || !rndis_ready_) return drop(Drop::NotReady);
  if (frame.size() > kMaxFrame || frame.size() < kMinFrame) return drop(Drop::Oversize);
  if (!accepts(frame)) return drop(Drop::Filtered);
  std::array<uint8_t, RNDIS_PACKET_SIZE> header;
  rndis_packet_header(header, static_cast<uint32_t>(frame.size()));
  if (!queue(NVSP_RNDIS_CHANNEL_TYPE_DATA, header, frame)) return;
  ++counts_.rx_frames;
  counts_.rx_bytes += frame.size();
  if (observer_ != nullptr) observer_->rx(1, frame.size());
}

bool Nic::queue(uint32_t channel_type, std::span<const uint8_t> head, std::span<const uint8_t> tail) {
  const uint64_t size = head.size() + tail.size();
  if (size == 0 || size > kReceiveSectionSize) {
    drop(Drop::Oversize);
    return false;
  }
  if (!has_receive_) {
    drop(Drop::NoReceiveBuffer);
    return false;
  }
  if (batch_count_ == kMaxBatch) {
    flush();
    if (batch_count_ == kMaxBatch) {  // still stalled
      drop(Drop::RingFull);
      return false;
    }
  }
  if (free_sections_.empty()) {
    drop(Drop::NoReceiveBuffer);
    return false;
  }
  const uint32_t section = free_sections_.back();
  const uint64_t at = uint64_t{section} * kReceiveSectionSize;
  if (!bus_.gpadl_write(receive_gpadl_, at, head) ||
      (!tail.empty() && !bus_.gpadl_write(receive_gpadl_, at + head.size(), tail))) {
    drop(Drop::NoReceiveBuffer);  // the channel closed under us
    return false;
  }
  free_sections_.pop_back();
  if (batch_count_ == 0) {
    batch_first_ = section;
    // A batch's NVSP message names one channel type; Linux does not look at
    // it on receive, so a control reply in a data batch is fine.
    batch_channel_type_ = channel_type;
  } else {
    next_section_[batch_last_] = section;
  }
  next_section_[section] = kNone;
  batch_last_ = section;
  batch_ranges_[batch_count_++] = {static_cast<uint32_t>(size), static_cast<uint32_t>(at)};
  return true;
}

void Nic::flush() {
  if (batch_count_ == 0 || free_slots_.empty()) return;
  const uint32_t slot = free_slots_.back();
  Slot& s = slots_[slot];
  const uint64_t transaction_id = (uint64_t{s.generation + 1} << 32) | slot;
  std::array<uint8_t, xfer_header_size(kMaxBatch)> ext;
  const uint32_t ext_size = write_xfer_header(ext, static_cast<uint16_t>(NETVSC_RECEIVE_BUFFER_ID),
                                              {batch_ranges_.data(), batch_count_});
  const NvspBytes nvsp = nvsp_send_rndis_packet(batch_channel_type_);
  const enlight_vmbus_result r = bus_.send(VM_PKT_DATA_USING_XFER_PAGES, VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED,
                                           transaction_id, {ext.data(), ext_size}, nvsp);
  if (r == ENLIGHT_VMBUS_FULL) {
    if (!stalled_) {
      stalled_ = true;
      ++counts_.stalls;
      if (observer_ != nullptr) observer_->stall();
    }
    return;
  }
  stalled_ = false;
  if (r != ENLIGHT_VMBUS_OK) {
    // Closed or corrupt: the sections go back, the messages are lost.
    for (uint32_t sec = batch_first_; sec != kNone; sec = next_section_[sec]) free_sections_.push_back(sec);
  } else {
    free_slots_.pop_back();
    ++s.generation;
    s.used = true;
    s.first = batch_first_;
    ++counts_.rx_batches;
    if (observer_ != nullptr) observer_->batch();
  }
  batch_count_ = 0;
  batch_first_ = batch_last_ = kNone;
}

void Nic::handle_completion(std::span<const uint8_t> data, uint64_t transaction_id) {
  // Linux completes with RNDIS_PKT_COMPLETE; its status does not matter
  // (the sections are the host's again either way).
  const NvspParse parsed = parse_nvsp(data);
  const auto slot = static_cast<uint32_t>(transaction_id);
  const auto generation = static_cast<uint32_t>(transaction_id >> 32);
  if (!parsed.message || !std::holds_alternative<NvspRndisPacketComplete>(*parsed.message) ||
      slot >= slots_.size() || !slots_[slot].used || slots_[slot].generation != generation) {
    drop(Drop::UnknownCompletion);
    return;
  }
  Slot& s = slots_[slot];
  for (uint32_t sec = s.first; sec != kNone; sec = next_section_[sec]) free_sections_.push_back(sec);
  s.used = false;
  s.first = kNone;
  free_slots_.push_back(slot);
}

}  // namespace enlight::vmbus_net
