// Snapshots: a stopped VM written to a file (guest RAM, every vCPU, every
// plugin's own state, the plugin set and the machine it ran on), and a new
// VM restored from one. docs/snapshots.md has the file format and the
// rules; the shape is QEMU's savevm: the VM stops, its state is written,
// and a restore is a new VM of the same configuration that loads it.
//
// A snapshot file is untrusted input. Reading it checks everything that
// can be checked without a VM (magic, format version, every section's
// length and CRC, the counts and sizes it states) before anything is
// created; restoring checks it against the VM's configuration (backend,
// plugin set and versions and options, vCPUs, RAM, guest image) before
// anything is written; and a plugin refusing its state fails the restore.
// A failed restore leaves a VM that must be destroyed, never one that runs.
#pragma once

#include <enlight/core/backend/cpu_state.hpp>
#include <enlight/core/resolver.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace enlight {

class Backend;
class Vm;

// Every problem with a snapshot file or a restore: what, in which file,
// and the fix, in one message.
class SnapshotError : public std::runtime_error {
 public:
  SnapshotError(const std::string& file, const std::string& what, const std::string& fix);
};

// What a snapshot records of one plugin: enough to refuse a different set.
struct SnapshotPlugin {
  std::string name, version;
  std::vector<std::string> options;  // "name=value", the manifest's order
  bool operator==(const SnapshotPlugin&) const = default;
};

// One plugin's saved state: the VM's (vcpu == kVmState) or one vCPU's.
struct SnapshotBlob {
  static constexpr uint32_t kVmState = 0xFFFFFFFFu;
  uint16_t plugin = 0;  // index into the plugin list (dependency order)
  uint32_t vcpu = kVmState;
  std::vector<uint8_t> bytes;
};

// Everything but guest RAM.
struct SnapshotState {
  std::string backend;             // "emu" | "kvm": where it was taken
  std::string guest;               // the guest program's label (information only)
  uint64_t guest_digest = 0;       // FNV-1a of the guest image; restore needs the same image
  uint32_t vcpus = 0;
  uint64_t memory_bytes = 0;
  uint64_t tsc_frequency_hz = 0;   // of the TSC the guest read
  uint64_t reference_time = 0;     // partition reference time when it stopped (100 ns)
  bool enforce_cpuid = false;
  std::vector<SnapshotPlugin> plugins;
  std::vector<SnapshotBlob> blobs;
  std::vector<VcpuSnapshot> cpus;
  // The backend's machine devices (Backend::save_devices): its own
  // versioned bytes; empty when it keeps none.
  std::vector<uint8_t> devices;
};

// The plugin set of a resolution as a snapshot records it.
std::vector<SnapshotPlugin> snapshot_plugins(const Resolution& resolution);
// FNV-1a 64 of a guest image (the digest a snapshot records).
uint64_t guest_image_digest(const std::vector<uint8_t>& image) noexcept;
// The same of a booted kernel: its bzImage, initrd and command line, each
// with its length, so moving bytes between them changes the digest.
uint64_t kernel_boot_digest(const std::vector<uint8_t>& kernel, const std::vector<uint8_t>& initrd,
                            const std::string& cmdline) noexcept;

// Writes a snapshot of `backend`'s VM, whose run() has returned Stopped or
// Timeout (any other outcome cannot be resumed: SnapshotError). Guest RAM
// is written sparsely (pages of zeros are left out). Writes FILE.tmp and
// renames it, so FILE is either the old one or a whole new snapshot.
// Throws SnapshotError (a plugin that cannot save, I/O errors).
void write_snapshot(Backend& backend, const std::string& path, const std::string& guest_label,
                    uint64_t guest_digest);

// A snapshot file read and checked: its state, and its RAM pages still in
// the (mapped) file. Throws SnapshotError naming the file and the fault.
class SnapshotFile {
 public:
  static SnapshotFile read(const std::string& path);
  // The same from bytes in memory (tests, fuzzing); `name` stands for the file.
  static SnapshotFile parse(std::vector<uint8_t> bytes, const std::string& name);
  SnapshotFile(SnapshotFile&&) noexcept;
  SnapshotFile& operator=(SnapshotFile&&) noexcept;
  ~SnapshotFile();

  const std::string& name() const noexcept { return name_; }
  const SnapshotState& state() const noexcept { return state_; }

  // Refuses (SnapshotError, with the difference and the fix) a VM that is
  // not the one this snapshot was taken of: backend, plugin set, versions
  // and options, vCPU count, RAM size, guest image.
  void check_matches(const std::string& backend, const Resolution& resolution, uint64_t memory_bytes,
                     uint64_t guest_digest) const;
  // Loads it into a VM just created from the same configuration, before
  // its run(): guest RAM, the machine's devices, the vCPUs, reference
  // time, then every plugin's VM state and each vCPU's, in dependency order. On SnapshotError the
  // VM holds part of the snapshot and must be destroyed, not run.
  void restore(Backend& backend) const;

 private:
  SnapshotFile() = default;
  void parse_into(const uint8_t* bytes, uint64_t size);
  struct RamRun {
    uint64_t gpa, bytes;
    const uint8_t* data;
  };
  std::string name_;
  SnapshotState state_;
  std::vector<RamRun> ram_;
  std::shared_ptr<const void> storage_;  // the mapping or buffer ram_ points into
};

}  // namespace enlight
