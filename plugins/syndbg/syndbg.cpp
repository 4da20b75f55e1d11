// hv-syndbg: the synthetic debugger, the transport Windows' kernel debugger
// (KDNET's Hyper-V synthetic debugger) uses instead of a NIC or a serial
// port. Not in the TLFS: the behaviour is KVM's (arch/x86/kvm/hyperv.c:
// syndbg_set_msr, syndbg_get_msr, kvm_hv_syndbg_complete_userspace, the
// debug calls in kvm_hv_hypercall) and QEMU's (target/i386/kvm/hyperv.c
// KVM_EXIT_HYPERV_SYNDBG, hw/hyperv/hyperv.c hyperv_hcall_*_dbg_*,
// hw/hyperv/syndbg.c for the UDP side), with the choices marked "choice".
//
// Two guest protocols over one UDP socket to the debugger host:
//  - MSRs: the guest puts a payload in its send page and writes
//    SYNDBG_CONTROL with SEND and the size, or writes it with RECV to have a
//    received payload copied to its receive page; SYNDBG_STATUS says how it
//    went. A byte in the pending page tells it that data waits.
//  - Hypercalls (when SYNDBG_OPTIONS.USE_HCALLS is set): whole Ethernet/
//    IPv4/UDP frames go in with HvCallPostDebugData and come back with
//    HvCallRetrieveDebugData; HvCallResetDebugSession names the endpoints.
//
// Threads. Handlers run on vCPU threads, the transport's receive thread
// queues datagrams and sets the pending byte; both take Vm::lock, which
// guards the registers (partition-wide, as KVM's under its hv_lock), the
// queue and the pending page. The guest is hostile: every GPA, size and
// count is checked before it is used, and nothing allocates after creation.
#include "frame.hpp"
#include "transport.hpp"

#include <enlight/plugin.hpp>

#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

namespace enlight_syndbg {
namespace {

namespace opt = enlight::this_plugin::options;

// The largest datagram kept for the guest: wrapped in its frame it must fit
// the RetrieveDebugData output after the 8-byte header (4046 bytes). The
// MSR protocol could take a whole page, but one limit for both protocols
// means a datagram queued for one can always be taken by the other.
// Larger datagrams are dropped and counted (choice: QEMU truncates them to
// 4054 bytes without saying so; KDNET's packets are far smaller).
constexpr uint32_t kMaxDatagram = HV_DEBUG_RETRIEVE_MAX_DATA - kFrameHeaders;
static_assert(kMaxDatagram <= (HV_SYNDBG_STATUS_RECV_SIZE_MASK >> HV_SYNDBG_STATUS_RECV_SIZE_SHIFT),
              "a received size must fit SYNDBG_STATUS bits 31:16");

// The receive thread is the only writer of `received` and `dropped`, so it
// may use vCPU 0's slot of them (abi.h: one writer per slot).
constexpr uint32_t kTransportSlot = 0;

uint32_t load_u32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store_u32(uint8_t* p, uint32_t v) noexcept { std::memcpy(p, &v, sizeof v); }
void store_u16(uint8_t* p, uint16_t v) noexcept { std::memcpy(p, &v, sizeof v); }

// Received datagrams waiting for the guest: a ring of slots allocated when
// the VM is made, so a flood from the network costs no memory.
class Queue {
 public:
  explicit Queue(uint64_t depth) : slots_(depth) {}
  bool empty() const noexcept { return count_ == 0; }
  bool full() const noexcept { return count_ == slots_.size(); }
  std::span<const uint8_t> front() const noexcept { return {slots_[head_].bytes.data(), slots_[head_].length}; }
  void push(std::span<const uint8_t> d) noexcept {
    Slot& s = slots_[(head_ + count_) % slots_.size()];
    s.length = static_cast<uint32_t>(d.size());
    if (!d.empty()) std::memcpy(s.bytes.data(), d.data(), d.size());
    ++count_;
  }
  void pop() noexcept {
    head_ = (head_ + 1) % slots_.size();
    --count_;
  }
  void clear() noexcept { head_ = count_ = 0; }

 private:
  struct Slot {
    uint32_t length = 0;
    std::array<uint8_t, kMaxDatagram> bytes;
  };
  std::vector<Slot> slots_;
  size_t head_ = 0, count_ = 0;
};

// The six MSRs, partition-wide: KVM keeps them in struct kvm_hv_syndbg
// (per VM), so every vCPU reads what any vCPU wrote.
struct Registers {
  uint64_t control = 0, status = 0, send_page = 0, recv_page = 0, pending_page = 0, options = 0;
  uint64_t& at(uint32_t index) noexcept {
    switch (index) {
      case HV_X64_MSR_SYNDBG_CONTROL: return control;
      case HV_X64_MSR_SYNDBG_STATUS: return status;
      case HV_X64_MSR_SYNDBG_SEND_BUFFER: return send_page;
      case HV_X64_MSR_SYNDBG_RECV_BUFFER: return recv_page;
      case HV_X64_MSR_SYNDBG_PENDING_BUFFER: return pending_page;
      default: return options;  // HV_X64_MSR_SYNDBG_OPTIONS: the claims allow nothing else
    }
  }
};

Endpoint endpoint_from(const enlight::VmBase& vm) {
  Endpoint e;
  const std::string host(vm.option(opt::host));
  // Choice: an address, never a name. QEMU resolves names with
  // gethostbyname(); a DNS lookup while the VM is being made would block
  // creation on the network.
  if (::inet_pton(AF_INET, host.c_str(), &e.host) != 1)
    throw enlight::PluginError("option host '" + host +
                               "' is not an IPv4 address; fix: give the debugger host as a.b.c.d");
  e.port = static_cast<uint16_t>(vm.option(opt::port));       // 1..65535 (manifest)
  e.bind_port = static_cast<uint16_t>(vm.option(opt::bind_port));  // 0..65535 (manifest)
  return e;
}

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        endpoint(endpoint_from(*this)),
        queue(option(opt::queue)),
        sent(counter("enlight_syndbg_sent_datagrams_total", "datagrams the guest sent to the debugger host")),
        failed_sends(counter("enlight_syndbg_failed_sends_total",
                             "guest sends the host kernel refused (socket buffer full, port unreachable)")),
        received(counter("enlight_syndbg_received_datagrams_total",
                         "datagrams from the debugger host queued for the guest")),
        dropped(counter("enlight_syndbg_dropped_datagrams_total",
                        "datagrams from the debugger host dropped: queue full, or larger than 4046 bytes")),
        rejected(counter("enlight_syndbg_rejected_requests_total",
                         "guest requests refused: a size over a page, a buffer outside guest RAM")),
        ignored(counter("enlight_syndbg_ignored_frames_total",
                        "HvCallPostDebugData frames that were not IPv4/UDP and were not sent (as QEMU)")) {
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EDX, HV_FEATURE_DEBUG_MSRS_AVAILABLE});
    // QEMU's hyperv_fill_cpuids(): 0x40000080 is the vendor "Microsoft VS"
    // with EAX 0 (QEMU computes a maximum, then overwrites it with 0),
    // 0x40000081.EAX "VS#1", 0x40000082.EAX AllowKernelDebugging. The core
    // raises 0x40000000.EAX to 0x40000082 because these leaves exist.
    cpuid_field({HV_CPUID_SYNDBG_VENDOR_AND_MAX_FUNCTIONS, ENLIGHT_EBX}, HV_CPUID_SYNDBG_SIGNATURE_EBX);
    cpuid_field({HV_CPUID_SYNDBG_VENDOR_AND_MAX_FUNCTIONS, ENLIGHT_ECX}, HV_CPUID_SYNDBG_SIGNATURE_ECX);
    cpuid_field({HV_CPUID_SYNDBG_VENDOR_AND_MAX_FUNCTIONS, ENLIGHT_EDX}, HV_CPUID_SYNDBG_SIGNATURE_EDX);
    cpuid_field({HV_CPUID_SYNDBG_INTERFACE, ENLIGHT_EAX}, HV_CPUID_SYNDBG_INTERFACE_SIGNATURE);
    cpuid_bits({HV_CPUID_SYNDBG_PLATFORM_CAPABILITIES, ENLIGHT_EAX, HV_SYNDBG_ALLOW_KERNEL_DEBUGGING});
    // QEMU's kvm_put_msrs() writes SYNDBG_OPTIONS from the device's
    // use_hcalls property when the vCPU is set up.
    regs.options = option(opt::use_hcalls) ? HV_X64_SYNDBG_OPTION_USE_HCALLS : 0;

    if (std::string error = link.open(endpoint); !error.empty()) throw enlight::PluginError(error);
    log(2, "UDP socket " + link.local_name() + " connected to debugger host " + link.peer_name());
    // Last: from here on the receive thread may call deliver().
    if (std::string error = link.start(kMaxDatagram, [this](std::span<const uint8_t> b, size_t n) { deliver(b, n); });
        !error.empty())
      throw enlight::PluginError(error);
  }
  ~Vm() override { link.stop(); }

  // The first byte of the pending page: 1 while data waits, 0 once the guest
  // has taken the last datagram (QEMU's set_pending_state()). Nothing is
  // written before the guest names a page (QEMU: pending_page_gpa 0), nor
  // where the page is not RAM. The receive thread writes it too: guest RAM
  // never moves and map_guest() is valid until vm_destroy, which joins that
  // thread first; a one-byte store needs no vCPU. Under `lock`.
  void flag_pending(bool on) noexcept {
    if (regs.pending_page == 0) return;
    auto* byte = static_cast<uint8_t*>(map_guest(regs.pending_page, 1));
    if (byte != nullptr) std::atomic_ref<uint8_t>(*byte).store(on ? 1 : 0, std::memory_order_release);
  }

  // A datagram from the debugger host (receive thread).
  void deliver(std::span<const uint8_t> bytes, size_t length) noexcept {
    try {
      std::lock_guard<std::mutex> guard(lock);
      if (length > kMaxDatagram || queue.full()) {
        dropped.add(kTransportSlot);
        return;
      }
      queue.push(bytes);
      received.add(kTransportSlot);
      flag_pending(true);
    } catch (...) {
      // std::mutex::lock failed: the datagram is lost, as on a full queue.
    }
  }

  // SYNDBG_CONTROL written by the guest: what SYNDBG_STATUS becomes (QEMU's
  // kvm_hv_handle_exit, KVM_EXIT_HYPERV_SYNDBG). SEND wins over RECV; with
  // neither the status is QEMU's HV_STATUS_SUCCESS, i.e. 0. Under `lock`.
  uint64_t control_written(uint32_t vcpu, uint64_t control) {
    if (control & HV_SYNDBG_CONTROL_SEND)
      return send_page_contents(vcpu, (control & HV_SYNDBG_CONTROL_SEND_SIZE_MASK) >> HV_SYNDBG_CONTROL_SEND_SIZE_SHIFT);
    if (control & HV_SYNDBG_CONTROL_RECV) return receive_into_page(vcpu);
    return HV_SYNDBG_STATUS_INVALID;
  }

  // `size` bytes at SEND_BUFFER as one datagram (QEMU hyperv_syndbg_send,
  // the GPA taken as it is, unmasked). QEMU maps whatever the guest names;
  // here the size is at most a page and every byte must be guest RAM, or
  // the status is 0 ("invalid", QEMU's answer when the mapping fails).
  uint64_t send_page_contents(uint32_t vcpu, uint64_t size) {
    uint8_t data[HV_PAGE_SIZE];
    if (size > sizeof data || !read_guest(regs.send_page, data, size)) {
      rejected.add(vcpu);
      return HV_SYNDBG_STATUS_INVALID;
    }
    if (!link.send({data, size})) {
      failed_sends.add(vcpu);
      return HV_SYNDBG_STATUS_INVALID;
    }
    sent.add(vcpu);
    return HV_SYNDBG_STATUS_SEND_SUCCESS;
  }

  // The oldest datagram to RECV_BUFFER (QEMU hyperv_syndbg_recv): status
  // RECV_SUCCESS with the size in bits 31:16, or 0 when nothing waits.
  // Choice: a receive page outside RAM leaves the datagram queued (QEMU has
  // already read it off the socket and loses it).
  uint64_t receive_into_page(uint32_t vcpu) {
    if (queue.empty()) return HV_SYNDBG_STATUS_INVALID;
    const std::span<const uint8_t> d = queue.front();
    if (!write_guest(regs.recv_page, d.data(), d.size())) {
      rejected.add(vcpu);
      return HV_SYNDBG_STATUS_INVALID;
    }
    const uint64_t status =
        HV_SYNDBG_STATUS_RECV_SUCCESS | (uint64_t{d.size()} << HV_SYNDBG_STATUS_RECV_SIZE_SHIFT);
    queue.pop();
    flag_pending(!queue.empty());
    return status;
  }

  bool hypercalls_allowed() const noexcept { return (regs.options & HV_X64_SYNDBG_OPTION_USE_HCALLS) != 0; }

  const Endpoint endpoint;
  std::mutex lock;
  Registers regs;
  Queue queue;
  // Where received frames are addressed: the source IP of the last frame
  // the guest posted (QEMU's target_ip), 0.0.0.0 until then.
  uint32_t target_ip = 0;
  const enlight::Counter sent, failed_sends, received, dropped, rejected, ignored;
  // Last member: destroyed, and its thread joined, before everything above.
  UdpLink link;
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

// Every MSR reads what was last written, by the guest or the host (KVM's
// syndbg_get_msr). Under hv-enforce-cpuid the manifest's gate
// (0x40000003.EDX[11]) is checked by the core before this runs.
enlight_access_result read_msr(Vcpu& v, uint32_t index, uint64_t& value, enlight_origin) {
  Vm& vm = v.vm();
  std::lock_guard<std::mutex> guard(vm.lock);
  value = vm.regs.at(index);
  return ENLIGHT_ACCESS_OK;
}

// KVM's syndbg_set_msr: every value is stored, none is refused (no
// reserved bits, no #GP), including STATUS and OPTIONS from the guest.
// Only guest writes of CONTROL and PENDING_BUFFER reach the VMM
// (syndbg_exit); a host write (restore) stores and does nothing else.
enlight_access_result write_msr(Vcpu& v, uint32_t index, uint64_t value, enlight_origin origin) {
  Vm& vm = v.vm();
  std::lock_guard<std::mutex> guard(vm.lock);
  vm.regs.at(index) = value;
  if (origin != ENLIGHT_ORIGIN_GUEST) return ENLIGHT_ACCESS_OK;
  if (index == HV_X64_MSR_SYNDBG_CONTROL) {
    vm.regs.status = vm.control_written(v.index(), value);
  } else if (index == HV_X64_MSR_SYNDBG_PENDING_BUFFER && !vm.queue.empty()) {
    // QEMU's socket handler is level-triggered: with data still waiting it
    // flags whatever page is named when it next runs. Flag the new page now.
    vm.flag_pending(true);
  }
  return ENLIGHT_ACCESS_OK;
}

// The three calls, as KVM and QEMU answer them. Before any of them runs the
// core has done what KVM does first (enforce-cpuid gate: ACCESS_DENIED) and
// checked the shape: a fast call is INVALID_HYPERCALL_INPUT there (KVM:
// INVALID_PARAMETER; see README, "Differences"), and the input and output
// blocks below must be 8-byte aligned, within a page and in guest RAM.
// Then KVM's own check: without SYNDBG_OPTIONS.USE_HCALLS, OPERATION_DENIED.

// HvCallPostDebugData: u32 count, u32 options (not used, as QEMU), then a
// frame of `count` bytes; output u32 pending_count. The frame's UDP payload
// goes to the debugger host (QEMU handle_send_msg, is_raw).
enlight_hypercall_result post_debug_data(Vcpu& v, const enlight_hypercall& call) {
  Vm& vm = v.vm();
  std::lock_guard<std::mutex> guard(vm.lock);
  if (!vm.hypercalls_allowed()) return {HV_STATUS_OPERATION_DENIED, 0};
  const uint32_t count = load_u32(call.input);
  // QEMU: more than the page holds after the header is INVALID_PARAMETER.
  if (count > HV_DEBUG_POST_MAX_DATA || call.input_size < HV_DEBUG_POST_INPUT_HEADER_SIZE + count) {
    vm.rejected.add(v.index());
    return {HV_STATUS_INVALID_PARAMETER, 0};
  }
  // A datagram leaves whole or not at all, so nothing is ever pending.
  // (QEMU leaves pending_count unset when it ignores a frame.)
  store_u32(call.output, 0);
  const auto frame = parse_udp_frame({call.input + HV_DEBUG_POST_INPUT_HEADER_SIZE, count});
  if (!frame) {
    // QEMU: anything but IPv4/UDP is answered SUCCESS and not sent (the
    // guest's stack may post ARP and the like).
    vm.ignored.add(v.index());
    return {HV_STATUS_SUCCESS, 0};
  }
  vm.target_ip = frame->source_ip;
  if (!vm.link.send(frame->payload)) {
    vm.failed_sends.add(v.index());
    return {HV_STATUS_INSUFFICIENT_MEMORY, 0};  // QEMU's answer when sendto fails
  }
  vm.sent.add(v.index());
  return {HV_STATUS_SUCCESS, 0};
}

// HvCallRetrieveDebugData: input u32 count, u32 options, u64 timeout;
// output u32 retrieved_count, u32 remaining_count, then the oldest
// datagram wrapped in an Ethernet/IPv4/UDP frame (QEMU handle_recv_msg,
// is_raw). Nothing waiting: HV_STATUS_NO_DATA at once. Choice, as QEMU
// ("TODO: Handle options and timeout"): the timeout and options are not
// used, so a vCPU never waits here; the guest polls again, as it would
// after its own timeout. `count` does not limit the copy either (QEMU);
// the frame is at most the page's 4088 bytes after the header, all inside
// the output page the core validated, and remaining_count is what of
// `count` is left, never below 0 (QEMU's subtraction can wrap).
// On NO_DATA the output is not written (the core writes output only on
// success; QEMU writes 0 and `count` there).
enlight_hypercall_result retrieve_debug_data(Vcpu& v, const enlight_hypercall& call) {
  Vm& vm = v.vm();
  std::lock_guard<std::mutex> guard(vm.lock);
  if (!vm.hypercalls_allowed()) return {HV_STATUS_OPERATION_DENIED, 0};
  const uint32_t count = load_u32(call.input);
  if (vm.queue.empty()) return {HV_STATUS_NO_DATA, 0};
  const uint16_t port = htons(vm.endpoint.port);
  const size_t n = build_udp_frame({call.output + HV_DEBUG_RETRIEVE_OUTPUT_HEADER_SIZE,
                                    call.output_size - HV_DEBUG_RETRIEVE_OUTPUT_HEADER_SIZE},
                                   vm.endpoint.host.s_addr, vm.target_ip, port, vm.queue.front());
  if (n == 0) {  // cannot happen: kMaxDatagram is chosen so that it fits
    vm.report_fault("a queued datagram does not fit the RetrieveDebugData output");
    return {ENLIGHT_HV_FAULT, 0};
  }
  const uint32_t retrieved = static_cast<uint32_t>(n);
  store_u32(call.output, retrieved);
  store_u32(call.output + 4, count > retrieved ? count - retrieved : 0);
  vm.queue.pop();
  vm.flag_pending(!vm.queue.empty());
  return {HV_STATUS_SUCCESS, 0};
}

// HvCallResetDebugSession: input u32 options; output the endpoints as QEMU
// fills them (hyperv_hcall_reset_dbg_session): the debugger host's IP and
// port as host-order integers, the same for the target's ("only used as
// validation for KDVM"), MACs zero. Choice: PurgeIncomingData empties the
// queue (QEMU does not read the input); PurgeOutgoingData has nothing to
// purge, every send leaving at once.
enlight_hypercall_result reset_debug_session(Vcpu& v, const enlight_hypercall& call) {
  Vm& vm = v.vm();
  std::lock_guard<std::mutex> guard(vm.lock);
  if (!vm.hypercalls_allowed()) return {HV_STATUS_OPERATION_DENIED, 0};
  if (load_u32(call.input) & HV_DEBUG_PURGE_INCOMING_DATA) {
    vm.queue.clear();
    vm.flag_pending(false);
  }
  const uint32_t ip = ntohl(vm.endpoint.host.s_addr);
  store_u32(call.output + HV_DEBUG_RESET_OUTPUT_HOST_IP_OFFSET, ip);
  store_u32(call.output + HV_DEBUG_RESET_OUTPUT_TARGET_IP_OFFSET, ip);
  store_u16(call.output + HV_DEBUG_RESET_OUTPUT_HOST_PORT_OFFSET, vm.endpoint.port);
  store_u16(call.output + HV_DEBUG_RESET_OUTPUT_TARGET_PORT_OFFSET, vm.endpoint.port);
  // MACs: the output buffer arrives zeroed.
  return {HV_STATUS_SUCCESS, 0};
}

constexpr std::array kMsrs{
    enlight::msr<read_msr, write_msr>(HV_X64_MSR_SYNDBG_CONTROL, HV_X64_MSR_SYNDBG_PENDING_BUFFER),
    enlight::msr<read_msr, write_msr>(HV_X64_MSR_SYNDBG_OPTIONS),
};

// Memory form only (no ENLIGHT_HC_FAST). The decoder copies a fixed input
// and validates a fixed output: PostDebugData's input is its page (header
// plus the largest frame), RetrieveDebugData's output likewise, so those
// two blocks must start a page (README, "Differences").
constexpr std::array kHypercalls{
    enlight::hypercall<post_debug_data>(HvCallPostDebugData, 0, static_cast<uint16_t>(HV_PAGE_SIZE), 0,
                                        static_cast<uint16_t>(HV_DEBUG_POST_OUTPUT_SIZE)),
    enlight::hypercall<retrieve_debug_data>(HvCallRetrieveDebugData, 0,
                                            static_cast<uint16_t>(HV_DEBUG_RETRIEVE_INPUT_SIZE), 0,
                                            static_cast<uint16_t>(HV_PAGE_SIZE)),
    enlight::hypercall<reset_debug_session>(HvCallResetDebugSession, 0,
                                            static_cast<uint16_t>(HV_DEBUG_RESET_INPUT_SIZE), 0,
                                            static_cast<uint16_t>(HV_DEBUG_RESET_OUTPUT_SIZE)),
};

}  // namespace
}  // namespace enlight_syndbg

namespace {
using SyndbgVm = enlight_syndbg::Vm;
using SyndbgVcpu = enlight_syndbg::Vcpu;
}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<SyndbgVm, SyndbgVcpu>{.msrs = enlight_syndbg::kMsrs,
                                                     .hypercalls = enlight_syndbg::kHypercalls})
