// One synthetic NIC as Linux's hv_netvsc drives it: NVSP on its VMBus
// channel, the receive and send buffers, RNDIS control, frames both ways.
// The bus and the backend are interfaces (NicBus, FrameSink) so the unit
// tests drive a Nic as a fake Linux guest with no plugin ABI.
//
// Threads and locking. on_notify runs on a vCPU thread, deliver on the
// backend's receive thread; one mutex per NIC serialises them (the bus
// serialises each ring anyway). Nothing here allocates after the guest's
// SEND_RECV_BUF (the section tables are sized then, bounded by
// kMaxReceiveSections).
//
// Receive buffer (host to guest): fixed sub-allocations of
// kReceiveSectionSize bytes, one RNDIS message each, handed to the guest in
// XFER_PAGES packets of up to kMaxBatch ranges and returned by its
// completion (netvsc.c netvsc_receive / enq_receive_complete). A packet the
// ring has no room for stays queued and the NIC stalls: the receive thread
// stops reading the backend until the guest frees room (pending_send_sz
// brings a notify), so the backend's own queue absorbs the burst.
#pragma once

#include "nic_config.hpp"
#include "protocol/nvsp.hpp"
#include "protocol/packets.hpp"

#include <enlight/services/vmbus.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace enlight::vmbus_net {

// What a NIC needs from its channel (services/vmbus.h, minor 1).
class NicBus {
 public:
  virtual ~NicBus() = default;
  virtual enlight_vmbus_result recv_packet(std::span<uint8_t> buffer, enlight_vmbus_packet& info) = 0;
  virtual enlight_vmbus_result recv_drop() = 0;
  virtual enlight_vmbus_result send(uint16_t type, uint16_t flags, uint64_t transaction_id,
                                    std::span<const uint8_t> extension, std::span<const uint8_t> payload) = 0;
  virtual bool gpadl_size(uint32_t gpadl, uint64_t& bytes) = 0;
  virtual bool gpadl_read(uint32_t gpadl, uint64_t offset, std::span<uint8_t> dst) = 0;
  virtual bool gpadl_write(uint32_t gpadl, uint64_t offset, std::span<const uint8_t> src) = 0;
  virtual bool gpa_read(uint64_t gpa, std::span<uint8_t> dst) = 0;
};

// The backend's transmit side. Called with the NIC's lock held.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // false: the backend dropped the frame (counted as Drop::Backend).
  virtual bool transmit(std::span<const uint8_t> frame) = 0;
};

enum class Drop : uint8_t {
  MalformedNvsp,      // a guest packet that is no NVSP message this host knows
  MalformedRndis,     // RNDIS framing, a data packet's frame bounds, a bad control request
  BadSection,         // a send section index or size out of range, or no send buffer
  BadGpa,             // GPA_DIRECT page buffers malformed or outside guest RAM
  Oversize,           // a frame longer than kMaxFrame (either way), or a runt
  UnknownCompletion,  // a guest completion for no receive packet in flight
  NoReceiveBuffer,    // no free receive section (the guest keeps its completions)
  RingFull,           // the host-to-guest ring stalled and the batch was full
  Filtered,           // refused by the guest's packet filter
  Backend,            // the backend would not take a frame
  NotReady,           // a frame for a NIC the guest has not opened and set up
  kCount
};
const char* drop_name(Drop d) noexcept;

// Counts the NIC keeps, and an observer the plugin mirrors into metrics.
struct NicCounts {
  uint64_t rx_frames = 0, rx_bytes = 0;  // host to guest
  uint64_t tx_frames = 0, tx_bytes = 0;  // guest to host
  uint64_t rx_batches = 0;               // XFER_PAGES packets sent
  uint64_t stalls = 0;                   // times the ring was full
  std::array<uint64_t, static_cast<size_t>(Drop::kCount)> dropped{};
};
class NicObserver {
 public:
  virtual ~NicObserver() = default;
  virtual void rx(uint64_t frames, uint64_t bytes) = 0;
  virtual void tx(uint64_t bytes) = 0;
  virtual void batch() = 0;
  virtual void stall() = 0;
  virtual void dropped(Drop reason) = 0;
};

// Sizes this host chooses (docs/vmbus-net.md): a receive sub-allocation
// holds the largest frame with its RNDIS header (OpenVMM: 256 + MTU + 36);
// a send section is Linux's own NETVSC_SEND_SECTION_SIZE, which OpenVMM
// also answers.
inline constexpr uint32_t kReceiveSectionSize = 1792;
inline constexpr uint32_t kSendSectionSize = NETVSC_SEND_SECTION_SIZE;
inline constexpr uint32_t kMaxReceiveSections = 65536;
inline constexpr uint32_t kMaxBatch = 64;  // ranges per XFER_PAGES packet (Linux takes 375)
// 1500 MTU + Ethernet header + one 802.1Q tag.
inline constexpr uint32_t kMaxFrame = 1518;
inline constexpr uint32_t kMinFrame = 14;
inline constexpr uint32_t kMtu = 1500;
inline constexpr uint32_t kMaxPacketsPerMessage = 8;
inline constexpr uint32_t kAlignmentLog2 = 3;
// Link speed answered for OID_GEN_LINK_SPEED, in 100 bps units (10 Gbps).
inline constexpr uint32_t kLinkSpeed = 100'000'000;

class Nic {
 public:
  Nic(const NicConfig& config, NicBus& bus, FrameSink& sink, NicObserver* observer = nullptr);

  // The bus's device callbacks. The vmbus plugin calls open and close
  // holding its own lock, which gpadl_size/read/write take as well, and
  // the Nic makes those calls holding lock_: so these two must not take
  // lock_ (a lock-order inversion, a deadlock when the guest opens or
  // closes on one vCPU while it signals on another; found by TSan,
  // docs/sanitizers.md). They mark the guest-configured state for a reset,
  // which on_notify or deliver, the entry points under lock_, apply first.
  void on_open();
  void on_close();
  // Drains the guest-to-host ring. Returns true when a stalled receive path
  // can go again (the receive thread should be woken).
  bool on_notify();

  // A frame from the backend for the guest: filtered, copied into a
  // receive section and queued; flush() sends what is queued. Returns
  // false while stalled (the caller stops reading the backend).
  void deliver(std::span<const uint8_t> frame);
  void flush();
  bool stalled() const noexcept { return stalled_; }

  std::mutex& lock() noexcept { return lock_; }
  const NicCounts& counts() const noexcept { return counts_; }
  const Mac& mac() const noexcept { return config_.mac; }
  uint32_t packet_filter() const noexcept { return filter_; }
  uint32_t nvsp_version() const noexcept { return version_; }

 private:
  struct Slot {  // one XFER_PAGES packet the guest has not completed
    uint32_t first = kNone;  // its sections, linked through next_section_
    uint32_t generation = 0;
    bool used = false;
  };
  static constexpr uint32_t kNone = UINT32_MAX;

  void reset();
  void apply_pending_reset();  // under lock_
  // The receive sections, in-flight packets and pending batch dropped.
  void forget_receive_buffer();
  void drop(Drop reason);
  void handle_inband(std::span<const uint8_t> packet, const enlight_vmbus_packet& info);
  void handle_completion(std::span<const uint8_t> data, uint64_t transaction_id);
  void complete(const enlight_vmbus_packet& info, const NvspBytes& reply);
  void set_receive_buffer(const NvspBuffer& b, const enlight_vmbus_packet& info);
  void set_send_buffer(const NvspBuffer& b, const enlight_vmbus_packet& info);
  // The bytes of a SEND_RNDIS_PKT into tx_; 0 and a counted drop when bad.
  uint32_t gather(const NvspRndisPacket& p, std::span<const uint8_t> packet, const enlight_vmbus_packet& info);
  uint32_t handle_rndis(std::span<const uint8_t> bytes);
  bool handle_control(uint32_t type, std::span<const uint8_t> message);
  void answer_query(uint32_t request_id, uint32_t oid, std::span<const uint8_t> info);
  void answer_set(uint32_t request_id, uint32_t oid, std::span<const uint8_t> info);
  // Queues one message (in up to two parts) into a free receive section.
  bool queue(uint32_t channel_type, std::span<const uint8_t> head, std::span<const uint8_t> tail = {});
  bool accepts(std::span<const uint8_t> frame) const noexcept;

  const NicConfig config_;
  NicBus& bus_;
  FrameSink& sink_;
  NicObserver* observer_;
  std::mutex lock_;
  std::atomic<bool> reset_pending_{false};
  NicCounts counts_;

  // Guest-configured state, reset on open and close.
  uint32_t version_ = 0;
  uint32_t receive_gpadl_ = 0, receive_sections_ = 0;
  uint32_t send_gpadl_ = 0, send_sections_ = 0;
  bool has_receive_ = false, has_send_ = false;
  bool rndis_ready_ = false;
  uint32_t filter_ = 0;
  bool connect_indicated_ = false;

  // Receive sections: free stack, per-section link, in-flight slots.
  std::vector<uint32_t> free_sections_;
  std::vector<uint32_t> next_section_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  // The batch being built (or stalled).
  std::array<XferRange, kMaxBatch> batch_ranges_{};
  uint32_t batch_count_ = 0, batch_first_ = kNone, batch_last_ = kNone;
  uint32_t batch_channel_type_ = NVSP_RNDIS_CHANNEL_TYPE_DATA;
  bool stalled_ = false;

  // Scratch: the guest packet, and the RNDIS bytes of one SEND_RNDIS_PKT
  // (a send section plus at most MAX_PAGE_BUFFER_COUNT pages).
  std::vector<uint8_t> packet_;
  std::vector<uint8_t> tx_;
  std::array<uint8_t, kReceiveSectionSize> reply_{};
};

}  // namespace enlight::vmbus_net
