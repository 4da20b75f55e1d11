// hv-crash: the guest crash MSRs (TLFS "Partition Properties", datatypes/
// HV_CRASH_CTL_REG_CONTENTS). A crashing guest writes its bugcheck code and
// parameters to CRASH_P0..P4 and sets CrashNotify in CRASH_CTL; the VMM
// records the crash and stops the VM, as QEMU does with a guest-panicked
// event (the VM is stopped, not reset).
//
// Every value here comes from the guest: the message GPA and length are
// checked against guest RAM and capped before anything is read, and the
// message text is escaped before it reaches the host's log.
#include <enlight/plugin.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <string>

namespace {

// What CRASH_CTL reads as: the guest learns from it which bits it may use.
// CrashMessage is offered because we can read the message; NoCrashDump and
// PreOSId are not (they would need a host policy for crash dumps).
constexpr uint64_t kSupported = HV_CRASH_CTL_CRASH_NOTIFY | HV_CRASH_CTL_CRASH_NOTIFY_MSG;
constexpr uint32_t kMessageParam = HV_X64_MSR_CRASH_P3 - HV_X64_MSR_CRASH_P0;  // message GPA
constexpr uint32_t kLengthParam = HV_X64_MSR_CRASH_P4 - HV_X64_MSR_CRASH_P0;   // message length

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p), reports(counter("enlight_crash_reports_total", "crash notifications written by the guest")) {
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EDX, HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE});
  }
  // Partition-wide, like KVM's hv_crash_param: any vCPU may write them.
  std::array<std::atomic<uint64_t>, HV_X64_MSR_CRASH_PARAMS> params{};
  const enlight::Counter reports;

  // Saved state (docs/sdk.md, "Saved state"): P0-P4, which a guest that
  // reported nothing yet may have filled in advance, then CRASH_CTL as it
  // reads. P0-P4 take any value (as the MSR writes do). CTL holds no state
  // (reads are always the supported bits, a host write changes nothing and
  // never re-reports a crash), so it is only checked: a bit this plugin
  // never offers cannot come from a VM it ran.
  void save(enlight::StateWriter& w) const {
    w.put(params);
    w.put(kSupported);
  }
  void load(enlight::StateReader& r) {
    std::array<uint64_t, HV_X64_MSR_CRASH_PARAMS> p{};
    r.get(p);
    const uint64_t ctl = r.get<uint64_t>();
    if (!r.complete()) return;
    if ((ctl & ~kSupported) != 0) return r.refuse("HV_X64_MSR_CRASH_CTL", ctl, "bits this plugin never offers");
    for (uint32_t i = 0; i < HV_X64_MSR_CRASH_PARAMS; ++i) params[i].store(p[i]);
  }
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

// Printable ASCII passes; a newline continues the message on an indented
// line, so guest text can never pass for a log line of its own; anything
// else (escape sequences included) becomes \xNN. Stops at the first NUL, as
// the message is a C string for Windows and Linux alike.
std::string escape(const char* text, size_t len) {
  std::string out;
  out.reserve(len);
  for (size_t i = 0; i < len && text[i] != '\0'; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\n    | ";
    } else if (c == '\t' || (c >= 0x20 && c < 0x7F)) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    }
  }
  return out;
}

// The message the guest points at with P3 (GPA) and P4 (length), when it set
// CrashMessage. Failure to read it is reported in the text, never fatal.
std::string crash_message(const Vm& vm, uint64_t gpa, uint64_t length) {
  if (length == 0) return "(CrashMessage set, but P4 gives an empty message)";
  std::string note;
  if (length > HV_CRASH_MAXIMUM_MESSAGE_SIZE) {
    note = " (truncated from " + std::to_string(length) + " bytes)";
    length = HV_CRASH_MAXIMUM_MESSAGE_SIZE;
  }
  char buffer[HV_CRASH_MAXIMUM_MESSAGE_SIZE];
  if (!vm.read_guest(gpa, buffer, length)) {
    char text[160];
    std::snprintf(text, sizeof text, "(message skipped: %llu bytes at GPA 0x%llx are not all in guest RAM)",
                  static_cast<unsigned long long>(length), static_cast<unsigned long long>(gpa));
    return text;
  }
  return "\"" + escape(buffer, length) + "\"" + note;
}

enlight_access_result read_crash(Vcpu& v, uint32_t index, uint64_t& value, enlight_origin) {
  value = index == HV_X64_MSR_CRASH_CTL ? kSupported : v.vm().params[index - HV_X64_MSR_CRASH_P0].load();
  return ENLIGHT_ACCESS_OK;
}

void report_crash(Vcpu& v, uint64_t ctl) {
  Vm& vm = v.vm();
  uint64_t p[HV_X64_MSR_CRASH_PARAMS];
  for (uint32_t i = 0; i < HV_X64_MSR_CRASH_PARAMS; ++i) p[i] = vm.params[i].load();
  vm.reports.add(v.index());

  char summary[256];
  std::snprintf(summary, sizeof summary,
                "guest crash reported by vCPU %u: P0=0x%016llx P1=0x%016llx P2=0x%016llx P3=0x%016llx P4=0x%016llx",
                v.index(), static_cast<unsigned long long>(p[0]), static_cast<unsigned long long>(p[1]),
                static_cast<unsigned long long>(p[2]), static_cast<unsigned long long>(p[3]),
                static_cast<unsigned long long>(p[4]));
  std::string line = summary;
  if (ctl & HV_CRASH_CTL_CRASH_NOTIFY_MSG) line += "; message: " + crash_message(vm, p[kMessageParam], p[kLengthParam]);
  vm.log(0, line);
  vm.request_stop(ENLIGHT_STOP_GUEST_CRASH, summary);
}

// P0..P4: plain R/W storage for guest and host alike. CRASH_CTL:
//  - a guest write with CrashNotify reports the crash and stops the VM;
//  - CrashMessage adds the message at P3/P4 to the report;
//  - other bits are ignored without #GP (choice: KVM ignores everything but
//    CrashNotify in guest writes, and never #GPs; a guest only sets bits it
//    read back as supported anyway);
//  - a host write is accepted and changes nothing: the supported bits are
//    this plugin's, and a restore must never re-report an old crash.
enlight_access_result write_crash(Vcpu& v, uint32_t index, uint64_t value, enlight_origin origin) {
  if (index != HV_X64_MSR_CRASH_CTL) {
    v.vm().params[index - HV_X64_MSR_CRASH_P0].store(value);
    return ENLIGHT_ACCESS_OK;
  }
  if (origin == ENLIGHT_ORIGIN_GUEST && (value & HV_CRASH_CTL_CRASH_NOTIFY)) report_crash(v, value);
  return ENLIGHT_ACCESS_OK;
}

constexpr std::array kMsrs{enlight::msr<read_crash, write_crash>(HV_X64_MSR_CRASH_P0, HV_X64_MSR_CRASH_CTL)};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
