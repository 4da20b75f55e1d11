// HV_VP_SET (TLFS datatypes/HV_VP_SET) and the 64-bit processor masks of
// the non-Ex calls, as guests name virtual processors in TLB-flush and IPI
// hypercalls. A plugin parses the guest's bytes once with parse_vp_set()
// and turns VP indexes into vCPU numbers with the core's
// vcpu_of_vp_index (a VP index is not always a vCPU number).
//
// Plain code over a bounded byte span: no allocation, no exception, every
// length checked, so it runs on the exit path and under a fuzzer.
#pragma once

#include <enlight/tlfs.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

namespace enlight {

struct VpSet {
  bool all = false;           // HV_GENERIC_SET_ALL: every VP, present and future
  uint64_t valid_banks = 0;   // bit b: bank b (VPs 64b..64b+63) follows
  const uint8_t* banks = nullptr;  // popcount(valid_banks) little-endian u64s, ascending bank order

  // Calls fn(vp_index) for every VP the set names (not for `all`, which
  // the caller handles: it means "every vCPU", whatever its VP index).
  template <class Fn>
  void for_each(Fn&& fn) const {
    uint32_t slot = 0;
    for (uint64_t m = valid_banks; m != 0; m &= m - 1, ++slot) {
      const uint32_t bank = static_cast<uint32_t>(std::countr_zero(m));
      uint64_t bits;
      std::memcpy(&bits, banks + uint64_t{slot} * 8, 8);
      for (; bits != 0; bits &= bits - 1) fn(bank * HV_VP_SET_VPS_PER_BANK + static_cast<uint32_t>(std::countr_zero(bits)));
    }
  }
};

enum class VpSetError {
  None,
  Truncated,       // the set's header or banks run past the input
  BadFormat,       // neither HV_GENERIC_SET_SPARSE_4K nor HV_GENERIC_SET_ALL
  BankCountMismatch,  // variable header size != popcount(ValidBanksMask)
};

// Parses the HV_VP_SET at `offset` of `input`. For the Ex hypercalls the
// bank words are the call's variable header, so `var_header_qwords` (the
// control word's) must equal popcount(ValidBanksMask) for the sparse form
// (TLFS; KVM answers HV_STATUS_INVALID_HYPERCALL_INPUT otherwise). For
// HV_GENERIC_SET_ALL the mask and banks are ignored, as in KVM.
// A format other than the two the TLFS defines is refused (KVM treats it as
// sparse for IPIs and as "all" for flushes; the TLFS reserves it).
inline VpSetError parse_vp_set(std::span<const uint8_t> input, uint32_t offset, uint16_t var_header_qwords,
                               VpSet& out) {
  out = VpSet{};
  if (offset > input.size() || input.size() - offset < HV_VP_SET_HEADER_SIZE) return VpSetError::Truncated;
  uint64_t format, mask;
  std::memcpy(&format, input.data() + offset + HV_VP_SET_FORMAT_OFFSET, 8);
  std::memcpy(&mask, input.data() + offset + HV_VP_SET_VALID_BANKS_MASK_OFFSET, 8);
  if (format == HV_GENERIC_SET_ALL) {
    out.all = true;
    return VpSetError::None;
  }
  if (format != HV_GENERIC_SET_SPARSE_4K) return VpSetError::BadFormat;
  const uint32_t banks = static_cast<uint32_t>(std::popcount(mask));
  if (banks != var_header_qwords) return VpSetError::BankCountMismatch;
  const uint64_t first = uint64_t{offset} + HV_VP_SET_BANK_CONTENTS_OFFSET;
  if (input.size() < first || input.size() - first < uint64_t{banks} * 8) return VpSetError::Truncated;
  out.valid_banks = mask;
  out.banks = input.data() + first;
  return VpSetError::None;
}

// The non-Ex calls' ProcessorMask as a set: bank 0 only.
inline VpSet vp_set_from_mask(const uint64_t& mask) {
  VpSet s;
  s.valid_banks = mask != 0 ? 1 : 0;
  s.banks = reinterpret_cast<const uint8_t*>(&mask);
  return s;
}

}  // namespace enlight
