// Remote TLB flushes between vCPU threads (enlight_host.tlb_flush), shared
// by the emu and kvm backends. Neither Unicorn nor KVM lets one thread flush
// another vCPU's guest TLB, so the flush is done the way KVM itself does it
// for its own Hyper-V flush (kvm_make_vcpus_request_mask with a wait): the
// target is marked, kicked out of guest mode, and flushes on its own thread
// before it runs guest code again. The caller returns once every target is
// either out of guest mode (its flush is then due before re-entry) or has
// taken the request: from then on it cannot use a translation cached
// before the call, which is all the TLFS promises when the hypercall
// returns ("Virtual Processor TLB Flushing").
//
// No lock and no allocation: two atomics per vCPU, in a Dekker pattern
// (sequentially consistent on both sides), so a request and an entry into
// guest mode racing each other can never both miss.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

namespace enlight {

class TlbShootdown {
 public:
  // The vCPU's own thread, immediately before it runs guest code: true when
  // a flush is due, which the caller performs before entering.
  bool entering() noexcept {
    in_guest_.store(true);
    return pending_.exchange(false);
  }
  // The vCPU's own thread, once it can no longer run guest code until its
  // next entering() (it returned from the engine, or is inside an exit that
  // ends the engine's run).
  void left() noexcept { in_guest_.store(false); }

  // Requester: marks the flush due. True when the target may be running
  // guest code with the old translations: kick it and wait for settled().
  bool request() noexcept {
    pending_.store(true);
    return in_guest_.load();
  }
  // Requester: the target can no longer use a translation from before the
  // request (it took the request on entry, or is out of guest mode with
  // the request still due).
  bool settled() const noexcept { return !in_guest_.load() || !pending_.load(); }

 private:
  std::atomic<bool> in_guest_{false};
  std::atomic<bool> pending_{false};
};

// Flushes every vCPU set in `vcpus` (bit n = vCPU n, words already clipped
// to the VM's vCPUs by the core). `state(n)` is vCPU n's TlbShootdown,
// `kick(n)` makes it leave guest mode, `over()` says the run has ended
// (nobody will run guest code again, so nothing stale can be used).
// The caller is out of guest mode (it is handling an exit), so two vCPUs
// flushing each other never wait on each other.
template <class State, class Kick, class Over>
void tlb_shootdown(const uint64_t* vcpus, uint32_t words, State&& state, Kick&& kick, Over&& over) {
  for (uint32_t w = 0; w < words; ++w)
    for (uint64_t bits = vcpus[w]; bits != 0; bits &= bits - 1) {
      const uint32_t v = w * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
      if (state(v).request()) kick(v);
    }
  for (uint32_t w = 0; w < words; ++w)
    for (uint64_t bits = vcpus[w]; bits != 0; bits &= bits - 1) {
      const uint32_t v = w * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
      // A kick takes effect within microseconds (a signal on kvm, the next
      // translation block on emu); repeat it now and then in case the
      // target swallowed it on its way into the guest.
      for (uint32_t spins = 0; !state(v).settled() && !over(); ++spins) {
        if ((spins & 0x3FF) == 0x3FF) kick(v);
        std::this_thread::yield();
      }
    }
}

// The BackendHooks::tlb_flush of a backend whose shared state (`Impl`,
// held weakly, as every hook holds it) has `vcpus` (each with tlb() and
// kick()) and the run's `over` flag: the emu and kvm backends.
template <class Impl>
auto tlb_flush_hook(std::weak_ptr<Impl> weak) {
  return [weak](uint32_t, const uint64_t* vcpus, uint32_t words) {
    auto p = weak.lock();
    if (!p) return false;
    tlb_shootdown(
        vcpus, words, [&](uint32_t v) -> TlbShootdown& { return p->vcpus[v]->tlb(); },
        [&](uint32_t v) { p->vcpus[v]->kick(); }, [&] { return p->over.load(); });
    return true;
  };
}

}  // namespace enlight
