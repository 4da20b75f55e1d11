// The hypercall decoder: TLFS 3.7 (Hypercall Interface) for one VMCALL or
// VMMCALL, once, in the core. Plugins receive a validated, typed request.
//
// Order of checks follows KVM's kvm_hv_hypercall() so that guests see the
// same status for the same malformed call: #UD first, then the enforce-cpuid
// access check, reserved control bits, the code, then per-call shape.
// Choices where the TLFS names no status are marked "(choice)" and listed in
// docs/hypercalls.md.
#include <enlight/core/bus.hpp>
#include <enlight/core/vm.hpp>

#include <atomic>
#include <cstring>

namespace enlight {
namespace {

struct Control {
  uint64_t raw;
  uint16_t code() const { return static_cast<uint16_t>(raw & HV_HYPERCALL_CODE_MASK); }
  bool fast() const { return (raw & HV_HYPERCALL_FAST) != 0; }
  uint16_t var_header() const { return static_cast<uint16_t>((raw & HV_HYPERCALL_VARHEAD_MASK) >> HV_HYPERCALL_VARHEAD_SHIFT); }
  uint16_t rep_count() const { return static_cast<uint16_t>((raw & HV_HYPERCALL_REP_COUNT_MASK) >> HV_HYPERCALL_REP_COUNT_SHIFT); }
  uint16_t rep_start() const { return static_cast<uint16_t>((raw & HV_HYPERCALL_REP_START_MASK) >> HV_HYPERCALL_REP_START_SHIFT); }
  bool reserved_set() const {
    return (raw & (HV_HYPERCALL_RSVD0_MASK | HV_HYPERCALL_RSVD1_MASK | HV_HYPERCALL_RSVD2_MASK)) != 0;
  }
};

constexpr uint64_t lo32(uint64_t v) { return v & 0xFFFFFFFFull; }
constexpr uint64_t pair(uint64_t hi, uint64_t lo) { return (lo32(hi) << 32) | lo32(lo); }

// TLFS 3.7: parameter pages are 8-byte aligned and do not cross a page.
bool gpa_layout_ok(uint64_t gpa, uint64_t size) {
  return (gpa & (HV_HYPERCALL_PARAMETER_ALIGNMENT - 1)) == 0 && (gpa & (HV_PAGE_SIZE - 1)) + size <= HV_PAGE_SIZE;
}

}  // namespace

HypercallAction Bus::hypercall_status(VcpuState& v, HypercallRegs& regs, uint16_t slot, uint16_t status,
                                      uint16_t reps) const noexcept {
  count(v, slot, ExitKind::Hypercall, status == HV_STATUS_SUCCESS ? Result::Ok : Result::HvError);
  const uint64_t result = static_cast<uint64_t>(status) | (static_cast<uint64_t>(reps) << HV_HYPERCALL_RESULT_REPS_COMPLETED_SHIFT);
  if (regs.long_mode) {
    regs.rax = result;
  } else {
    regs.rax = (regs.rax & ~0xFFFFFFFFull) | lo32(result);
    regs.rdx = (regs.rdx & ~0xFFFFFFFFull) | (result >> 32);
  }
  return HypercallAction::Complete;
}

HypercallAction Bus::hypercall(VcpuState& v, HypercallRegs& regs) const noexcept {
  // TLFS 3.2: hypercalls from CPL > 0 or real mode raise #UD. Before the
  // guest enables the hypercall page there is no hypercall interface at all
  // (choice: #UD, as on a processor without a hypervisor to call).
  if (!regs.protected_mode || regs.cpl != 0 || !hypercalls_enabled()) {
    count(v, unclaimed_slot_, ExitKind::Hypercall, Result::UD);
    return HypercallAction::InjectUD;
  }
  const Control control{regs.long_mode ? regs.rcx : pair(regs.rdx, regs.rax)};
  const uint64_t input_param = regs.long_mode ? regs.rdx : pair(regs.rbx, regs.rcx);
  const uint64_t output_param = regs.long_mode ? regs.r8 : pair(regs.rdi, regs.rsi);

  const HypercallEntry* e = find_hypercall(control.code());
  const uint16_t slot = e ? e->slot : unclaimed_slot_;
  if (e != nullptr && e->denied) return hypercall_status(v, regs, slot, HV_STATUS_ACCESS_DENIED, 0);
  if (control.reserved_set()) return hypercall_status(v, regs, slot, HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
  if (e == nullptr) return hypercall_status(v, regs, slot, HV_STATUS_INVALID_HYPERCALL_CODE, 0);

  const enlight_hypercall_claim& shape = e->shape;
  const bool is_rep = (shape.flags & ENLIGHT_HC_REP) != 0;
  const uint16_t rep_count = control.rep_count();
  const uint16_t rep_start = control.rep_start();
  const uint16_t var_header = control.var_header();
  if (control.fast() && !(shape.flags & ENLIGHT_HC_FAST))  // (choice) TLFS: call-specific
    return hypercall_status(v, regs, slot, HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
  if (var_header != 0 && !(shape.flags & ENLIGHT_HC_VAR_HEADER))
    return hypercall_status(v, regs, slot, HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
  if (is_rep ? (rep_count == 0 || rep_start >= rep_count) : (rep_count != 0 || rep_start != 0))
    return hypercall_status(v, regs, slot, HV_STATUS_INVALID_HYPERCALL_INPUT, 0);

  const uint64_t input_size = uint64_t{shape.input_header_size} + uint64_t{var_header} * 8 +
                              uint64_t{rep_count} * shape.input_rep_size;
  const uint64_t output_size = uint64_t{shape.output_header_size} + uint64_t{rep_count} * shape.output_rep_size;
  if (input_size > HV_PAGE_SIZE || output_size > HV_PAGE_SIZE)
    return hypercall_status(v, regs, slot, HV_STATUS_INVALID_HYPERCALL_INPUT, 0);

  uint8_t* const in = v.hc_input.data();
  if (control.fast()) {
    const bool xmm = (shape.flags & ENLIGHT_HC_XMM_FAST) != 0;
    // TLFS 3.7.8: XMM input only when advertised (0x40000003.EDX[4]); KVM
    // raises #UD only under hv-enforce-cpuid and reads the XMMs otherwise.
    if (xmm && enforce_cpuid_ && !xmm_input_advertised_) {
      count(v, slot, ExitKind::Hypercall, Result::UD);
      return HypercallAction::InjectUD;
    }
    const uint64_t block = xmm ? HV_HYPERCALL_XMM_INPUT_MAX_BYTES : 16;
    // No fast output: XMM output (0x40000003.EDX[15]) is not offered, so a
    // fast call to something with output cannot return it (choice).
    if (input_size > block || output_size != 0)
      return hypercall_status(v, regs, slot, HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
    std::memcpy(in, &input_param, 8);
    std::memcpy(in + 8, &output_param, 8);
    if (xmm) std::memcpy(in + 16, regs.xmm, sizeof regs.xmm);
  } else {
    if (input_size != 0) {
      if (!gpa_layout_ok(input_param, input_size))
        return hypercall_status(v, regs, slot, HV_STATUS_INVALID_ALIGNMENT, 0);
      // Unbacked GPA: KVM answers INVALID_HYPERCALL_INPUT when the read fails.
      if (!memory_.read(input_param, in, input_size))
        return hypercall_status(v, regs, slot, HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
    }
    if (output_size != 0) {
      if (!gpa_layout_ok(output_param, output_size))
        return hypercall_status(v, regs, slot, HV_STATUS_INVALID_ALIGNMENT, 0);
      if (!memory_.contains(output_param, output_size))
        return hypercall_status(v, regs, slot, HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
      // TLFS 3.7: input and output must not overlap (status: choice).
      if (input_size != 0 && input_param < output_param + output_size && output_param < input_param + input_size)
        return hypercall_status(v, regs, slot, HV_STATUS_INVALID_ALIGNMENT, 0);
    }
  }
  uint8_t* const out = v.hc_output.data();
  std::memset(out, 0, output_size);

  enlight_hypercall call{};
  call.code = control.code();
  call.fast = control.fast() ? 1 : 0;
  call.var_header_qwords = var_header;
  call.rep_count = rep_count;
  call.rep_start = rep_start;
  call.vp_index = std::atomic_ref<uint32_t>(v.vp_index).load(std::memory_order_relaxed);
  call.input = in;
  call.input_size = static_cast<uint32_t>(input_size);
  call.output = out;
  call.output_size = static_cast<uint32_t>(output_size);

  const auto start = latency_start(v);
  enlight_hypercall_result r;
  try {
    r = e->handler(v.plugin_ctx[e->slot], &call);
  } catch (...) {
    handler_threw(v, e->slot);
    r = {ENLIGHT_HV_FAULT, 0};
  }
  latency_end(v, e->slot, ExitKind::Hypercall, start);
  if (r.status == ENLIGHT_HV_FAULT) {
    count(v, slot, ExitKind::Hypercall, Result::Fault);
    if (v.vm != nullptr) v.vm->plugin_fault(slot, nullptr);
    return HypercallAction::Fault;
  }
  const uint16_t reps = is_rep ? r.reps_completed : 0;
  // A continuation must make progress, or the guest would spin forever.
  const bool progress_ok = !is_rep || (reps <= rep_count && reps >= rep_start &&
                                       (r.status != HV_STATUS_SUCCESS || reps > rep_start));
  if (!progress_ok) {
    count(v, slot, ExitKind::Hypercall, Result::Fault);
    if (v.vm != nullptr) v.vm->plugin_fault(slot, "hypercall handler returned an impossible reps-completed count");
    return HypercallAction::Fault;
  }

  if (!control.fast() && output_size != 0) {
    // The header only on success (a failed call has no result); then the
    // elements this pass completed, whatever the status, since a rep call
    // that fails at rep n has still produced reps before n. A continuation
    // never overwrites what a later pass will produce.
    if (r.status == HV_STATUS_SUCCESS) memory_.write(output_param, out, shape.output_header_size);
    const uint64_t first = uint64_t{shape.output_header_size} + uint64_t{rep_start} * shape.output_rep_size;
    const uint64_t len = uint64_t{static_cast<uint16_t>(reps - rep_start)} * shape.output_rep_size;
    if (is_rep && len != 0) memory_.write(output_param + first, out + first, len);
  }

  if (is_rep && r.status == HV_STATUS_SUCCESS && reps < rep_count) {
    // TLFS 3.7.3: rewrite the rep start index and re-execute the call.
    const uint64_t next = (control.raw & ~HV_HYPERCALL_REP_START_MASK) |
                          (static_cast<uint64_t>(reps) << HV_HYPERCALL_REP_START_SHIFT);
    if (regs.long_mode) regs.rcx = next;
    else regs.rdx = (regs.rdx & ~0xFFFFFFFFull) | (next >> 32);
    ++v.continuations;
    count(v, slot, ExitKind::Hypercall, Result::Ok);
    return HypercallAction::Continue;
  }
  return hypercall_status(v, regs, slot, r.status, reps);
}

}  // namespace enlight
