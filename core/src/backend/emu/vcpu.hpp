// One emu vCPU: a Unicorn engine over the VM's RAM, its hooks, its local
// APIC and the loop its host thread runs.
#pragma once

#include "../tlb_shootdown.hpp"

#include <enlight/core/backend/emu.hpp>
#include <enlight/machine/lapic.hpp>

#include <unicorn/unicorn.h>

#include <atomic>
#include <thread>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace enlight::emu {

// The machine's local APIC model (core/machine), one per vCPU.
using machine::IpiRequest;
using machine::Lapic;

// CPUID.1 as the emulated CPU answers it, read once per VM (the CPUID hook
// runs before the instruction, so it cannot see the CPU's own answer).
struct NativeLeaf1 {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};
NativeLeaf1 probe_native_leaf1();

// Where a guest image holds the byte pairs of rdmsr (0F 32) and wrmsr (0F 30).
std::vector<uint64_t> scan_msr_sites(const uint8_t* image, uint64_t size, uint64_t load_address);

class EmuVcpu {
 public:
  EmuVcpu(EmuVm::Impl& vm, uint32_t index, const std::vector<uint64_t>& msr_sites, const NativeLeaf1& leaf1);
  ~EmuVcpu();
  EmuVcpu(const EmuVcpu&) = delete;
  EmuVcpu& operator=(const EmuVcpu&) = delete;

  void run();   // the vCPU thread's body; returns when the run is over
  void kick();  // any thread: an interrupt is pending or the run is over
  Lapic& lapic() { return lapic_; }
  uint64_t runtime_ns() const { return runtime_ns_.load(std::memory_order_relaxed); }
  uint32_t index() const { return index_; }
  // A kick not yet seen by a running engine (the monitor repeats it).
  bool pending_kick() const;
  // Wakes the vCPU if it sleeps in HLT, without stopping a running engine
  // (a plugin armed a timer: the sleeper must recompute its deadline).
  void wake() { wake_.notify_all(); }

  // The guest's x2APIC MSR accesses (and plugins' apic_read/apic_write),
  // on this vCPU's thread; false is #GP.
  bool apic_msr_read(uint32_t index, uint64_t& value);
  bool apic_msr_write(uint32_t index, uint64_t value);
  // Remote TLB flushes aimed at this vCPU (enlight_host.tlb_flush).
  TlbShootdown& tlb() { return tlb_; }

  // The guest RIP; only once this vCPU's thread has left run().
  uint64_t rip_after_run() { return reg(UC_X86_REG_RIP); }

  // Snapshots (state.cpp), while this vCPU's thread is not running: its
  // registers, local APIC and whether it waits in HLT; load refuses
  // values the engine or the APIC would not hold (std::runtime_error).
  VcpuSnapshot save();
  void load(const VcpuSnapshot& saved);

 private:
  // Why the last uc_emu_start returned, when a hook stopped it.
  enum class Stop : uint8_t { None, Resume, Ended };

  static uint32_t on_in(uc_engine* uc, uint32_t port, int size, void* self);
  static void on_out(uc_engine* uc, uint32_t port, int size, uint32_t value, void* self);
  static int on_cpuid(uc_engine* uc, void* self);
  static bool on_invalid(uc_engine* uc, void* self);
  static void on_intr(uc_engine* uc, uint32_t intno, void* self);
  static void on_msr_site(uc_engine* uc, uint64_t address, uint32_t size, void* self);
  static void on_block(uc_engine* uc, uint64_t address, uint32_t size, void* self);

  void msr_exit(uint64_t rip, bool write);
  // Everything due between two runs of guest code: a PV EOI the guest
  // took, plugins' timers, the APIC timer.
  void service_host_events();
  bool hypercall(uint64_t rip);
  // Delivers an exception through the guest's IDT with RIP = `rip` pushed;
  // escalates to #DF and then to a triple fault. False when the run ended.
  bool raise(uint8_t vector, bool has_error, uint32_t error, uint64_t rip);
  // Pushes the frame and enters the gate's handler; false when the IDT,
  // the gate or the stack is unusable (the caller escalates).
  bool enter_gate(uint8_t vector, bool has_error, uint32_t error, uint64_t rip, std::string& why);
  bool deliver_pending();
  void halt_wait();
  bool interrupts_enabled();
  void stop_engine(Stop why);
  // Empties the engine's softmmu TLB, on this vCPU's thread.
  void flush_engine_tlb();
  void end(Outcome outcome, std::string message);

  uint64_t reg(int id);
  void set_reg(int id, uint64_t value);

  EmuVm::Impl& vm_;
  uint32_t index_;
  NativeLeaf1 leaf1_;
  bool hv_present_ = false;
  uc_engine* uc_ = nullptr;
  Lapic lapic_;

  Stop stop_ = Stop::None;
  struct Pending {
    bool valid = false, has_error = false;
    uint8_t vector = 0;
    uint32_t error = 0;
    uint64_t rip = 0;
  } pending_;  // exception to deliver once uc_emu_start has returned
  void defer(uint8_t vector, bool has_error, uint32_t error, uint64_t rip);
  std::atomic<bool> kicked_{false};
  // Set by on_block when it stopped the engine for a kick: the exact RIP to
  // resume at (Unicorn leaves RIP stale after such a stop, see on_block).
  bool kick_stopped_ = false;
  uint64_t kick_rip_ = 0;
  std::atomic<bool> running_{false};
  std::atomic<std::thread::id> thread_id_{};  // run()'s thread, for kick()
  std::mutex wait_mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> runtime_ns_{0};
  // Stopped in HLT (the run ended while it waited): a restored vCPU waits again.
  bool halted_ = false;
  TlbShootdown tlb_;
};

}  // namespace enlight::emu
