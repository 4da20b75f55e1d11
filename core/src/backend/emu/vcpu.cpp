// The vCPU loop and the engine's set-up. Exits come back as Unicorn hooks
// (exits.cpp, msr.cpp); interrupts and exceptions enter the guest through
// its IDT (deliver.cpp).
#include "emu_impl.hpp"
#include "vcpu.hpp"

#include <enlight/core/guest/protocol.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace enlight::emu {

namespace {
void check(uc_err err, const char* what) {
  if (err != UC_ERR_OK) throw std::runtime_error(std::string("unicorn: ") + what + ": " + uc_strerror(err));
}
}  // namespace

EmuVcpu::EmuVcpu(EmuVm::Impl& vm, uint32_t index, const std::vector<uint64_t>& msr_sites, const NativeLeaf1& leaf1)
    : vm_(vm), index_(index), leaf1_(leaf1), lapic_(index, vm.vm->options().apic_frequency_hz) {
  hv_present_ = vm.vm->bus().cpuid_table().has(0x40000000);
  check(uc_open(UC_ARCH_X86, UC_MODE_64, &uc_), "open");
  GuestMemory& mem = vm.vm->memory();
  // Every vCPU's engine maps the same host RAM: stores from one are loads
  // of the others, as on a real SMP machine.
  check(uc_mem_map_ptr(uc_, 0, mem.size(), UC_PROT_ALL, mem.base()), "map guest RAM");
  // Exits from a list (empty here) instead of uc_emu_start's `until`: on
  // every return Unicorn 2.0.1 invalidates the translated block at
  // until - 1 (0xFFFFFFFFFFFFFFFE), translating that address through the
  // guest's page tables; with the guest's paging on and the address
  // unmapped, the walk raises a #PF Unicorn swallows, which overwrote CR2
  // and left QEMU's exception state at #PF, so the guest's next real fault
  // became #DF (conformance-tlbflush found it).
  check(uc_ctl_exits_enable(uc_), "enable exits");
  uc_hook h;
  check(uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&EmuVcpu::on_in), this, 1, 0, UC_X86_INS_IN), "hook in");
  check(uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&EmuVcpu::on_out), this, 1, 0, UC_X86_INS_OUT), "hook out");
  check(uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&EmuVcpu::on_cpuid), this, 1, 0, UC_X86_INS_CPUID),
        "hook cpuid");
  check(uc_hook_add(uc_, &h, UC_HOOK_INSN_INVALID, reinterpret_cast<void*>(&EmuVcpu::on_invalid), this, 1, 0),
        "hook invalid");
  check(uc_hook_add(uc_, &h, UC_HOOK_INTR, reinterpret_cast<void*>(&EmuVcpu::on_intr), this, 1, 0), "hook intr");
  // Kicks stop the engine from here, at the start of a translation block,
  // never with uc_emu_stop from another thread (see on_block).
  check(uc_hook_add(uc_, &h, UC_HOOK_BLOCK, reinterpret_cast<void*>(&EmuVcpu::on_block), this, 1, 0), "hook block");
  // One code hook per candidate rdmsr/wrmsr, limited to that one address:
  // the rest of guest code runs at full speed (docs/emu-backend.md).
  for (uint64_t site : msr_sites)
    check(uc_hook_add(uc_, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&EmuVcpu::on_msr_site), this, site, site),
          "hook msr site");

  set_reg(UC_X86_REG_RDI, index);
  set_reg(UC_X86_REG_RSI, vm.vm->vcpu_count());
  set_reg(UC_X86_REG_RDX, vm.run_ms);
  set_reg(UC_X86_REG_RSP, ENLIGHT_GUEST_STACK_TOP - uint64_t{index} * ENLIGHT_GUEST_STACK_SIZE);
  set_reg(UC_X86_REG_RFLAGS, 0x2);  // IF=0
  set_reg(UC_X86_REG_RIP, ENLIGHT_GUEST_LOAD_ADDRESS);
}

EmuVcpu::~EmuVcpu() {
  if (uc_ != nullptr) uc_close(uc_);
}

uint64_t EmuVcpu::reg(int id) {
  uint64_t v = 0;
  uc_reg_read(uc_, id, &v);
  return v;
}

void EmuVcpu::set_reg(int id, uint64_t value) { uc_reg_write(uc_, id, &value); }

void EmuVcpu::stop_engine(Stop why) {
  if (why > stop_) stop_ = why;
  uc_emu_stop(uc_);
}

// Unicorn 2.0.1 has no call that empties an engine's TLB (UC_CTL_TB_FLUSH
// drops translated code only), but mapping a region does: memory_map_ptr
// ends with tlb_flush() of the engine's CPU, as QEMU must once the address
// space changes. So a flush maps a scratch page far above guest RAM and
// unmaps it again. The cost (a region added and removed, with Unicorn's
// own allocation) is paid only on a remote-flush hypercall, not per exit.
void EmuVcpu::flush_engine_tlb() {
  alignas(0x1000) static uint8_t scratch[0x1000];
  constexpr uint64_t kScratchGpa = uint64_t{1} << 40;  // beyond any guest RAM here (GuestMemory is far smaller)
  if (uc_mem_map_ptr(uc_, kScratchGpa, sizeof scratch, UC_PROT_READ, scratch) == UC_ERR_OK) {
    uc_mem_unmap(uc_, kScratchGpa, sizeof scratch);
    return;
  }
  end(Outcome::HostError, "vCPU " + std::to_string(index_) + ": cannot flush the engine's TLB (uc_mem_map_ptr refused)");
}

void EmuVcpu::end(Outcome outcome, std::string message) {
  stop_ = Stop::Ended;
  vm_.finish(outcome, std::move(message));
  uc_emu_stop(uc_);
}

void EmuVcpu::kick() {
  // From this vCPU's own thread outside the engine (a plugin timer it is
  // running injected a vector), there is nothing to interrupt: the loop
  // delivers pending vectors before it enters the guest. Kicking here
  // would make the loop look again, run the next due timer and kick
  // again: a guest with a 100 ns periodic timer never got to run
  // (test-msr-garbage's timer storm).
  if (thread_id_.load(std::memory_order_relaxed) == std::this_thread::get_id() && !running_.load()) return;
  {
    std::lock_guard lock(wait_mutex_);
    kicked_.store(true);
  }
  wake_.notify_all();
  // A running engine sees kicked_ in on_block at its next translation block
  // and stops itself there. No uc_emu_stop from this thread: in Unicorn
  // 2.0.1 an asynchronous stop can leave the engine at the start of a block
  // entered through a chained jump, and since a stop request (and any
  // UC_HOOK_CODE hook) suppresses synchronize_from_tb, RIP then still holds
  // a stale value from an earlier block: resuming there re-executes
  // instructions (calls, pushes, pops) and corrupts the guest.
}

void EmuVcpu::on_block(uc_engine* uc, uint64_t address, uint32_t, void* self) {
  auto& v = *static_cast<EmuVcpu*>(self);
  if (!v.kicked_.load(std::memory_order_relaxed)) return;
  // The block hook runs before the block's own exit check and before any of
  // its instructions: the engine leaves right there, and `address` is where
  // the guest must resume (Unicorn's RIP may be stale, see kick()).
  v.kick_stopped_ = true;
  v.kick_rip_ = address;
  uc_emu_stop(uc);
}

bool EmuVcpu::pending_kick() const { return kicked_.load() && running_.load(); }

bool EmuVcpu::interrupts_enabled() { return (reg(UC_X86_REG_RFLAGS) >> 9) & 1u; }

void EmuVcpu::service_host_events() {
  const int retired = lapic_.sync_pv_eoi();
  if (retired >= 0) vm_.vm->notify_eoi(index_, static_cast<uint8_t>(retired), true);
  vm_.vm->run_timers(index_);
  lapic_.poll_timer(vm_.now_ns());
}

void EmuVcpu::halt_wait() {
  std::unique_lock lock(wait_mutex_);
  while (!vm_.over.load() && !vm_.vm->stopped()) {
    lock.unlock();  // plugin timer callbacks may inject into this vCPU (which kicks it)
    service_host_events();
    lock.lock();
    if (interrupts_enabled() && lapic_.deliverable()) return;
    // Bounded wait: deadlines are polled, not signalled. Sleep to the
    // earliest plugin timer deadline when it is sooner.
    auto wait = std::chrono::microseconds(500);
    const uint64_t deadline = vm_.vm->next_timer_deadline(index_);
    if (deadline != 0) {
      const uint64_t now = vm_.vm->reference_time();
      const auto until = std::chrono::microseconds(deadline > now ? (deadline - now) / 10 : 0);
      if (until < wait) wait = until;
    }
    if (wait.count() > 0) wake_.wait_for(lock, wait);
  }
}

void EmuVcpu::run() {
  thread_id_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  while (!vm_.over.load()) {
    if (vm_.vm->stopped()) {
      end(Outcome::Stopped, vm_.vm->stop_message());
      break;
    }
    kicked_.store(false);
    if (halted_) {  // restored while it waited in HLT
      halt_wait();
      halted_ = vm_.over.load() || vm_.vm->stopped();
      continue;
    }
    service_host_events();
    if (!deliver_pending()) break;
    stop_ = Stop::None;
    running_.store(true);
    if (kicked_.load()) {  // something arrived since the check above: look again
      running_.store(false);
      continue;
    }
    kick_stopped_ = false;
    if (tlb_.entering()) flush_engine_tlb();
    const auto t0 = std::chrono::steady_clock::now();
    const uc_err err = uc_emu_start(uc_, reg(UC_X86_REG_RIP), ~0ull, 0, 0);
    tlb_.left();
    if (kick_stopped_) set_reg(UC_X86_REG_RIP, kick_rip_);
    runtime_ns_.fetch_add(static_cast<uint64_t>(
                              std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
                                  .count()),
                          std::memory_order_relaxed);
    running_.store(false);
    // HLT: neither a hook nor a kick stopped the engine, and RIP is past it.
    uint8_t prev = 0;
    const uint64_t rip = reg(UC_X86_REG_RIP);
    halted_ = err == UC_ERR_OK && stop_ == Stop::None && !kicked_.load() && !pending_.valid && rip > 0 &&
              vm_.vm->memory().read(rip - 1, &prev, 1) && prev == 0xF4;
    if (stop_ == Stop::Ended || vm_.over.load()) break;
    if (pending_.valid) {
      // An exception a hook saw: delivered here, outside any hook, so that
      // Unicorn's own post-hook RIP update cannot undo the delivery.
      const Pending p = pending_;
      pending_.valid = false;
      if (!raise(p.vector, p.has_error, p.error, p.rip)) break;
      continue;
    }
    if (err != UC_ERR_OK) {
      char text[160];
      std::snprintf(text, sizeof text, "vCPU %u: emulation failed at RIP 0x%llx: %s", index_,
                    static_cast<unsigned long long>(reg(UC_X86_REG_RIP)), uc_strerror(err));
      end(Outcome::GuestFault, text);
      break;
    }
    if (halted_) {
      halt_wait();
      halted_ = vm_.over.load() || vm_.vm->stopped();  // the run ended while it waited
    }
  }
  running_.store(false);
}

}  // namespace enlight::emu
