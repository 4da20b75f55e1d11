// Snapshots of the machine around the kvm vCPUs: the in-kernel irqchip
// (PIC master and slave, IOAPIC), and with the PC machine the in-kernel
// PIT, the PC machine's own devices (COM1, i8042, RTC, ACPI PM) and
// kvmclock. Version 1 of the backend's devices bytes, state_codec.hpp's
// form:
//   u32 version, u32 flags (kHasPc), kvm_irqchip x 3,
//   with kHasPc: kvm_pit_state2, kvm_clock_data, u64 n + n bytes of
//   PcMachine::save.
// KVM checks what it is given (these ioctls are among those syzkaller
// fuzzes); this file refuses what KVM would take but no KVM could have
// saved (another chip's id, reserved bits), and the PC machine validates
// its devices' state as a guest write would.
#include "impl.hpp"
#include "state_codec.hpp"
#include "sys.hpp"

#include <string>

namespace enlight::kvm {

namespace {

constexpr uint32_t kDevicesVersion = 1;
constexpr uint32_t kHasPc = 1u << 0;
constexpr uint32_t kChips[] = {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC};
constexpr uint32_t kPitFlags = KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON;

// What an 8254 channel can hold (Intel 8254 data sheet: modes 0-5, the
// read/write modes LSB, MSB, LSB then MSB; KVM's read and write states
// 1-4; KVM's 0xff for a channel never programmed, its reset state), so a
// damaged file is refused here rather than interpreted.
constexpr uint8_t kPitModeUnprogrammed = 0xff;
bool plausible(const kvm_pit_channel_state& c) {
  return c.count <= 0x10000 && (c.mode <= 5 || c.mode == kPitModeUnprogrammed) && c.bcd <= 1 && c.gate <= 1 &&
         c.rw_mode <= 3 && c.read_state <= 4 &&
         c.write_state <= 4 && c.count_latched <= 4 && c.status_latched <= 1;
}

}  // namespace

std::vector<uint8_t> KvmVm::save_devices() {
  refuse_what_is_not_saved("written");
  require_resumable_stop();
  using namespace codec;
  const int vmfd = impl_->vm_fd.get();
  std::vector<uint8_t> out;
  put_u32(out, kDevicesVersion);
  put_u32(out, impl_->pc ? kHasPc : 0);
  for (uint32_t id : kChips) {
    kvm_irqchip chip{};
    chip.chip_id = id;
    ioctl_or_throw(vmfd, KVM_GET_IRQCHIP, "KVM_GET_IRQCHIP", &chip);
    put_struct(out, chip);
  }
  if (impl_->pc) {
    kvm_pit_state2 pit{};
    ioctl_or_throw(vmfd, KVM_GET_PIT2, "KVM_GET_PIT2", &pit);
    put_struct(out, pit);
    // A few ms after the stop: kvmclock is a guest's clock only with
    // KVM's CPUID signature, which enlight's guests do not see.
    kvm_clock_data clock{};
    ioctl_or_throw(vmfd, KVM_GET_CLOCK, "KVM_GET_CLOCK", &clock);
    put_struct(out, clock);
    const std::vector<uint8_t> machine = impl_->pc->save(impl_->stopped_ns);
    put_u64(out, machine.size());
    out.insert(out.end(), machine.begin(), machine.end());
  }
  return out;
}

void KvmVm::load_devices(const std::vector<uint8_t>& saved) {
  refuse_what_is_not_saved("restored");
  require_fresh_for_restore(impl_->vcpus.size(), impl_->vcpus.size());
  codec::Reader r(saved, "the kvm backend's devices state");
  if (saved.empty()) r.fail("is missing (the snapshot was taken by an enlight that did not save it)");
  if (r.u32("its version") != kDevicesVersion) r.fail("is of another version");
  const uint32_t flags = r.u32("its flags");
  if ((flags & ~kHasPc) != 0) r.fail("has unknown flags");
  if (((flags & kHasPc) != 0) != (impl_->pc != nullptr))
    r.fail(impl_->pc ? "has no PC machine, and this VM has one" : "has a PC machine, and this VM has none");
  kvm_irqchip chips[3]{};
  for (int i = 0; i < 3; ++i) {
    r.take(chips[i], "an irqchip");
    if (chips[i].chip_id != kChips[i] || chips[i].pad != 0) r.fail("holds its interrupt controllers out of order");
  }
  kvm_pit_state2 pit{};
  kvm_clock_data clock{};
  const uint8_t* machine = nullptr;
  uint64_t machine_bytes = 0;
  if (impl_->pc) {
    r.take(pit, "PIT state");
    if ((pit.flags & ~kPitFlags) != 0) r.fail("has PIT flags KVM does not define");
    for (uint32_t word : pit.reserved)
      if (word != 0) r.fail("has non-zero reserved PIT fields");
    for (const kvm_pit_channel_state& c : pit.channels)
      if (!plausible(c)) r.fail("holds a PIT channel no 8254 can be in");
    r.take(clock, "kvmclock");
    machine_bytes = r.u64("the PC machine's size");
    machine = r.bytes(machine_bytes, "the PC machine's state");
  }
  r.expect_end();

  using codec::ioctl_or_throw;
  const int vmfd = impl_->vm_fd.get();
  for (kvm_irqchip& chip : chips) ioctl_or_throw(vmfd, KVM_SET_IRQCHIP, "KVM_SET_IRQCHIP", &chip);
  if (!impl_->pc) return;
  // KVM reloads each counter from `count` at this moment (kvm_pit_load_count):
  // the time the VM spent stopped is not counted down.
  ioctl_or_throw(vmfd, KVM_SET_PIT2, "KVM_SET_PIT2", &pit);
  kvm_clock_data set{};
  set.clock = clock.clock;  // the clock alone: no realtime or host TSC adjustment
  ioctl_or_throw(vmfd, KVM_SET_CLOCK, "KVM_SET_CLOCK", &set);
  std::string why;
  if (!impl_->pc->load(machine, machine_bytes, why)) throw std::runtime_error(why);
}

}  // namespace enlight::kvm
